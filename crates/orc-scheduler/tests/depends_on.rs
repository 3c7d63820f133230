//! depends_on: a service's first tasks wait for its dependencies' condition.

mod support;

use orc_model::{ClusterState, TaskState};
use orc_spec::{Dependency, DependencyCondition};
use support::*;

fn dep(service: &str, condition: DependencyCondition) -> Dependency {
    Dependency {
        service: service.into(),
        condition,
    }
}

#[test]
fn the_app_starts_only_once_the_db_runs() {
    let mut s = ClusterState::default();
    add_nodes(&mut s, [node(1), node(2)]);
    add_service(&mut s, "db", replicated(1));
    let mut app = replicated(2);
    app.depends_on = vec![dep("db", DependencyCondition::Healthy)];
    add_service(&mut s, "app", app);
    let mut ids = Ids::default();

    settle(&mut s, 1, &mut ids);
    assert_eq!(tasks_of(&s, "db").len(), 1);
    assert!(tasks_of(&s, "app").is_empty(), "app started before db ran");

    // The db's agent reports it running: now the app gets its tasks.
    agents_report(&mut s, 2);
    settle(&mut s, 3, &mut ids);
    assert_eq!(running_desired(&s, "app").len(), 2);
    check_invariants(&s);

    // Only the first start waits: the db failing later does not stop the app.
    let db_task = tasks_of(&s, "db")[0].id.clone();
    end_task(&mut s, &db_task, TaskState::Failed, Some(1), 4);
    settle(&mut s, 5, &mut ids);
    assert_eq!(running_desired(&s, "app").len(), 2);
}

#[test]
fn completed_successfully_waits_for_exit_zero() {
    let mut s = ClusterState::default();
    add_nodes(&mut s, [node(1)]);
    add_service(&mut s, "migrate", replicated(1));
    let mut app = replicated(1);
    app.depends_on = vec![dep("migrate", DependencyCondition::CompletedSuccessfully)];
    add_service(&mut s, "app", app);
    let mut ids = Ids::default();
    run_cluster(&mut s, 1, &mut ids);
    assert!(
        tasks_of(&s, "app").is_empty(),
        "app started before migrate completed"
    );
    let m = tasks_of(&s, "migrate")[0].id.clone();
    end_task(&mut s, &m, TaskState::Complete, Some(1), 2);
    settle(&mut s, 3, &mut ids);
    assert!(tasks_of(&s, "app").is_empty(), "exit 1 is not success");
    // The restart policy replaces it after its delay; that one exits 0.
    settle(&mut s, 6_000_000, &mut ids);
    agents_report(&mut s, 6_000_001);
    let m = running_desired(&s, "migrate")[0].id.clone();
    end_task(&mut s, &m, TaskState::Complete, Some(0), 6_000_002);
    settle(&mut s, 6_000_003, &mut ids);
    assert_eq!(running_desired(&s, "app").len(), 1);
}

#[test]
fn a_dependency_not_in_the_cluster_holds_nothing_back() {
    let mut s = ClusterState::default();
    add_nodes(&mut s, [node(1)]);
    let mut app = replicated(1);
    app.depends_on = vec![dep("gone", DependencyCondition::Started)];
    add_service(&mut s, "app", app);
    let mut ids = Ids::default();
    settle(&mut s, 1, &mut ids);
    assert_eq!(running_desired(&s, "app").len(), 1);
}

/// Reports task `id` running with health `state`, as its agent's probes would.
fn report_health(s: &mut ClusterState, id: &str, state: orc_model::HealthState, at: u64) {
    let mut st = orc_model::TaskStatus::new(TaskState::Running, at, "started");
    st.health = Some(orc_model::TaskHealth {
        state,
        since: at,
        failing_streak: 0,
        log: Vec::new(),
    });
    s.apply(&orc_model::Command::UpdateTaskStatus {
        updates: vec![(id.to_string(), st)],
    });
}

#[test]
fn service_healthy_waits_for_a_passed_health_check() {
    use orc_model::HealthState;
    let mut s = ClusterState::default();
    add_nodes(&mut s, [node(1)]);
    add_service(&mut s, "db", replicated(1));
    let mut app = replicated(1);
    app.depends_on = vec![dep("db", DependencyCondition::Healthy)];
    add_service(&mut s, "app", app);
    let mut ids = Ids::default();
    settle(&mut s, 1, &mut ids);
    let db = tasks_of(&s, "db")[0].id.clone();
    // Running, its check not passed yet: the app waits.
    report_health(&mut s, &db, HealthState::Starting, 2);
    settle(&mut s, 3, &mut ids);
    assert!(
        tasks_of(&s, "app").is_empty(),
        "app started before db was healthy"
    );
    report_health(&mut s, &db, HealthState::Unhealthy, 4);
    settle(&mut s, 5, &mut ids);
    assert!(
        tasks_of(&s, "app").is_empty(),
        "app started on an unhealthy db"
    );
    report_health(&mut s, &db, HealthState::Healthy, 6);
    settle(&mut s, 7, &mut ids);
    assert_eq!(running_desired(&s, "app").len(), 1);
}
