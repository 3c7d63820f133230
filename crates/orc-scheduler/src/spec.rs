//! When a task's spec counts as "changed" against its service's.

use orc_spec::{ServiceMode, ServiceSpec};

/// Whether a task made from `a` would run the same as one made from `b`: every field
/// equal except the replica count (scaling bumps the service version but must not
/// replace running tasks). Switching between replicated and global does count. How
/// updates roll out (`update_config`, `rollback_config`) and the first-start order
/// (`depends_on`) are not what a task runs, so they don't count (as in Swarm).
pub(crate) fn same_spec(a: &ServiceSpec, b: &ServiceSpec) -> bool {
    // Exhaustive destructuring: a new field in ServiceSpec fails to compile here until
    // someone decides whether it matters.
    let ServiceSpec {
        image,
        entrypoint,
        command,
        mode,
        env,
        labels,
        constraints,
        resources,
        restart,
        stop,
        user,
        working_dir,
        hostname,
        mounts,
        network_mode,
        placement,
        networks,
        ports,
        container,
        depends_on: _,
        healthcheck,
        update_config: _,
        rollback_config: _,
        secrets,
        configs,
    } = a;
    let same_mode_kind = matches!(
        (mode, &b.mode),
        (ServiceMode::Global, ServiceMode::Global)
            | (
                ServiceMode::Replicated { .. },
                ServiceMode::Replicated { .. }
            )
    );
    same_mode_kind
        && *image == b.image
        && *entrypoint == b.entrypoint
        && *command == b.command
        && *env == b.env
        && *labels == b.labels
        && *constraints == b.constraints
        && *resources == b.resources
        && *restart == b.restart
        && *stop == b.stop
        && *user == b.user
        && *working_dir == b.working_dir
        && *hostname == b.hostname
        && *mounts == b.mounts
        && *network_mode == b.network_mode
        && *placement == b.placement
        && *networks == b.networks
        && *ports == b.ports
        && *container == b.container
        && *healthcheck == b.healthcheck
        && *secrets == b.secrets
        && *configs == b.configs
}
