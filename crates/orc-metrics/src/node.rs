//! The node's own figures: parsers of `/proc` and `/sys` file contents (pure) and
//! the readers that fetch them.

use crate::{read, Error};
use std::path::Path;

/// Linux reports `/proc/stat` in USER_HZ, which is 100 on every architecture orc
/// runs on (arm64, armhf, x86_64), whatever the kernel's own tick rate.
const USER_HZ: f64 = 100.0;

/// The aggregate `cpu` line of `/proc/stat`, in seconds per mode.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CpuSeconds {
    pub modes: Vec<(&'static str, f64)>,
    /// How many `cpuN` lines there were.
    pub cpus: usize,
}

pub const CPU_MODES: [&str; 8] = [
    "user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal",
];

pub fn parse_proc_stat(text: &str) -> Result<CpuSeconds, String> {
    let mut out = CpuSeconds::default();
    for line in text.lines() {
        let mut fields = line.split_ascii_whitespace();
        match fields.next() {
            Some("cpu") => {
                for (mode, field) in CPU_MODES.iter().zip(fields) {
                    let ticks: u64 = field
                        .parse()
                        .map_err(|_| format!("cpu {mode}: not a number: {field}"))?;
                    out.modes.push((mode, ticks as f64 / USER_HZ));
                }
            }
            Some(f) if f.starts_with("cpu") => out.cpus += 1,
            _ => {}
        }
    }
    if out.modes.len() < 4 {
        return Err("no aggregate cpu line".into());
    }
    Ok(out)
}

/// `MemTotal` and `MemAvailable` of `/proc/meminfo`, in bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Memory {
    pub total: u64,
    pub available: u64,
}

pub fn parse_meminfo(text: &str) -> Result<Memory, String> {
    let (mut total, mut available) = (None, None);
    for line in text.lines() {
        let Some((key, rest)) = line.split_once(':') else {
            continue;
        };
        let slot = match key {
            "MemTotal" => &mut total,
            "MemAvailable" => &mut available,
            _ => continue,
        };
        let kib: u64 = rest
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()
            .map_err(|_| format!("{key}: not a number: {}", rest.trim()))?;
        *slot = Some(kib * 1024);
    }
    Ok(Memory {
        total: total.ok_or("no MemTotal")?,
        available: available.ok_or("no MemAvailable")?,
    })
}

/// The three load averages of `/proc/loadavg`.
pub fn parse_loadavg(text: &str) -> Result<[f64; 3], String> {
    let mut it = text.split_ascii_whitespace().map(|f| f.parse::<f64>());
    let mut out = [0.0; 3];
    for slot in &mut out {
        *slot = match it.next() {
            Some(Ok(v)) => v,
            _ => return Err(format!("not a load average: {}", text.trim())),
        };
    }
    Ok(out)
}

/// eMMC wear as the device reports it (JEDEC EXT_CSD): `life_time` is two estimates
/// (type A and B memory) in steps of 10 % of the rated life used (0x01 = 0–10 %,
/// 0x0b = exceeded), `pre_eol_info` is 1 normal, 2 warning (80 % of reserved blocks
/// used), 3 urgent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wear {
    pub device: String,
    pub life_time_a: Option<u8>,
    pub life_time_b: Option<u8>,
    pub pre_eol: Option<u8>,
}

fn parse_hex(s: &str) -> Option<u8> {
    let s = s.trim();
    let s = s
        .strip_prefix("0x")
        .or_else(|| s.strip_prefix("0X"))
        .unwrap_or(s);
    u8::from_str_radix(s, 16).ok()
}

/// `life_time` ("0x01 0x02") → the two estimates.
pub fn parse_life_time(text: &str) -> (Option<u8>, Option<u8>) {
    let mut it = text.split_ascii_whitespace().map(parse_hex);
    (it.next().flatten(), it.next().flatten())
}

pub fn parse_pre_eol(text: &str) -> Option<u8> {
    parse_hex(text)
}

/// A `VmRSS:` or similar `kB` field of `/proc/PID/status`, in bytes.
pub fn parse_status_kib(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|l| {
        let rest = l.strip_prefix(key)?.strip_prefix(':')?;
        let kib: u64 = rest.trim().trim_end_matches("kB").trim().parse().ok()?;
        Some(kib * 1024)
    })
}

/// A field of `/proc/PID/io` (`write_bytes`: what reached the block layer).
pub fn parse_io_field(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|l| {
        let rest = l.strip_prefix(key)?.strip_prefix(':')?;
        rest.trim().parse().ok()
    })
}

/// One thermal zone: its type ("cpu-thermal") and temperature in °C.
#[derive(Debug, Clone, PartialEq)]
pub struct Thermal {
    pub zone: String,
    pub kind: String,
    pub celsius: f64,
}

/// Free and total bytes of a filesystem (`statvfs`: space available to unprivileged
/// users, as `df` shows it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FsSpace {
    pub free: u64,
    pub size: u64,
}

/// Everything read for one scrape of the node.
#[derive(Debug, Clone, Default)]
pub struct NodeSample {
    pub cpu: Option<CpuSeconds>,
    pub memory: Option<Memory>,
    pub load: Option<[f64; 3]>,
    pub thermal: Vec<Thermal>,
    pub wear: Vec<Wear>,
    /// (mount point label, space)
    pub filesystems: Vec<(String, FsSpace)>,
    pub self_rss: Option<u64>,
    pub self_write_bytes: Option<u64>,
}

/// Where to read from: `/` normally, a temp dir in tests.
#[derive(Debug, Clone)]
pub struct Roots {
    pub proc: std::path::PathBuf,
    pub sys: std::path::PathBuf,
}

impl Default for Roots {
    fn default() -> Self {
        Roots {
            proc: "/proc".into(),
            sys: "/sys".into(),
        }
    }
}

fn parsed<T>(path: &Path, f: impl FnOnce(&str) -> Result<T, String>) -> Result<T, Error> {
    f(&read(path)?).map_err(|what| Error::Parse {
        path: path.display().to_string(),
        what,
    })
}

/// Reads what the kernel offers; a figure it doesn't expose is left out, never an
/// error (a board without thermal zones or eMMC just has none).
pub fn sample(roots: &Roots, filesystems: &[(&str, &Path)]) -> NodeSample {
    let proc = &roots.proc;
    let mut s = NodeSample {
        cpu: parsed(&proc.join("stat"), parse_proc_stat).ok(),
        memory: parsed(&proc.join("meminfo"), parse_meminfo).ok(),
        load: parsed(&proc.join("loadavg"), parse_loadavg).ok(),
        thermal: thermal_zones(&roots.sys.join("class/thermal")),
        wear: mmc_wear(&roots.sys.join("block")),
        ..NodeSample::default()
    };
    for (label, path) in filesystems {
        if let Ok(space) = fs_space(path) {
            s.filesystems.push((label.to_string(), space));
        }
    }
    if let Ok(status) = read(&proc.join("self/status")) {
        s.self_rss = parse_status_kib(&status, "VmRSS");
    }
    if let Ok(io) = read(&proc.join("self/io")) {
        s.self_write_bytes = parse_io_field(&io, "write_bytes");
    }
    s
}

fn sorted_entries(dir: &Path, prefix: &str) -> Vec<(String, std::path::PathBuf)> {
    let mut out: Vec<_> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            name.starts_with(prefix).then(|| (name, e.path()))
        })
        .collect();
    out.sort();
    out
}

/// `/sys/class/thermal/thermal_zone*/{type,temp}` (temp in millidegrees).
pub fn thermal_zones(dir: &Path) -> Vec<Thermal> {
    sorted_entries(dir, "thermal_zone")
        .into_iter()
        .filter_map(|(zone, path)| {
            let milli: f64 = read(&path.join("temp")).ok()?.trim().parse().ok()?;
            let kind = read(&path.join("type"))
                .map(|t| t.trim().to_string())
                .unwrap_or_default();
            Some(Thermal {
                zone,
                kind,
                celsius: milli / 1000.0,
            })
        })
        .collect()
}

/// `/sys/block/mmcblk*/device/{life_time,pre_eol_info}` where the card exposes them
/// (eMMC does; most SD cards don't).
pub fn mmc_wear(dir: &Path) -> Vec<Wear> {
    sorted_entries(dir, "mmcblk")
        .into_iter()
        .filter(|(name, _)| !name.contains("boot") && !name.contains("rpmb"))
        .filter_map(|(device, path)| {
            let (a, b) = read(&path.join("device/life_time"))
                .map(|t| parse_life_time(&t))
                .unwrap_or((None, None));
            let pre_eol = read(&path.join("device/pre_eol_info"))
                .ok()
                .and_then(|t| parse_pre_eol(&t));
            (a.is_some() || b.is_some() || pre_eol.is_some()).then_some(Wear {
                device,
                life_time_a: a,
                life_time_b: b,
                pre_eol,
            })
        })
        .collect()
}

pub fn fs_space(path: &Path) -> Result<FsSpace, Error> {
    let st = nix::sys::statvfs::statvfs(path).map_err(|e| Error::Io {
        path: path.display().to_string(),
        source: e.into(),
    })?;
    let frsize = st.fragment_size() as u64;
    Ok(FsSpace {
        free: (st.blocks_available() as u64).saturating_mul(frsize),
        size: (st.blocks() as u64).saturating_mul(frsize),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const STAT: &str = "cpu  10132153 290696 3084719 46828483 16683 0 25195 0 175628 0\n\
cpu0 1393280 32966 572056 13343292 6130 0 17875 0 23933 0\n\
cpu1 1335498 32912 576230 13284219 5239 0 3473 0 31240 0\n\
intr 1462898 0 0\nctxt 2787946\n";

    #[test]
    fn proc_stat() {
        let s = parse_proc_stat(STAT).unwrap();
        assert_eq!(s.cpus, 2);
        assert_eq!(s.modes.len(), 8);
        assert_eq!(s.modes[0], ("user", 101321.53));
        assert_eq!(s.modes[3], ("idle", 468284.83));
        assert!(parse_proc_stat("intr 1\n").is_err());
        assert!(parse_proc_stat("cpu 1 x 3 4\n").is_err());
    }

    #[test]
    fn meminfo() {
        let m = parse_meminfo(
            "MemTotal:        2031616 kB\nMemFree:          512000 kB\nMemAvailable:    1024000 kB\n",
        )
        .unwrap();
        assert_eq!(m.total, 2031616 * 1024);
        assert_eq!(m.available, 1024000 * 1024);
        assert!(parse_meminfo("MemTotal: 1 kB\n").is_err());
        assert!(parse_meminfo("MemTotal: x kB\nMemAvailable: 1 kB\n").is_err());
    }

    #[test]
    fn loadavg() {
        assert_eq!(
            parse_loadavg("1.72 0.73 0.28 3/133 9133\n").unwrap(),
            [1.72, 0.73, 0.28]
        );
        assert!(parse_loadavg("1.0\n").is_err());
    }

    #[test]
    fn emmc_fields() {
        assert_eq!(parse_life_time("0x01 0x02\n"), (Some(1), Some(2)));
        assert_eq!(parse_life_time("0x0b 0x0a\n"), (Some(11), Some(10)));
        assert_eq!(parse_life_time(""), (None, None));
        assert_eq!(parse_pre_eol("0x01\n"), Some(1));
        assert_eq!(parse_pre_eol("junk"), None);
    }

    #[test]
    fn status_and_io() {
        let status = "Name:\torc\nVmPeak:\t  20000 kB\nVmRSS:\t    8312 kB\n";
        assert_eq!(parse_status_kib(status, "VmRSS"), Some(8312 * 1024));
        assert_eq!(parse_status_kib(status, "VmSwap"), None);
        let io = "rchar: 100\nwchar: 200\nread_bytes: 4096\nwrite_bytes: 81920\n";
        assert_eq!(parse_io_field(io, "write_bytes"), Some(81920));
    }

    #[test]
    fn sys_trees_from_a_fake_root() {
        let d = tempfile::tempdir().unwrap();
        let z = d.path().join("class/thermal/thermal_zone0");
        std::fs::create_dir_all(&z).unwrap();
        std::fs::write(z.join("temp"), "48500\n").unwrap();
        std::fs::write(z.join("type"), "cpu-thermal\n").unwrap();
        std::fs::create_dir_all(d.path().join("class/thermal/cooling_device0")).unwrap();
        let m = d.path().join("block/mmcblk1/device");
        std::fs::create_dir_all(&m).unwrap();
        std::fs::write(m.join("life_time"), "0x02 0x01\n").unwrap();
        std::fs::write(m.join("pre_eol_info"), "0x01\n").unwrap();
        std::fs::create_dir_all(d.path().join("block/mmcblk0/device")).unwrap(); // SD: nothing
        let t = thermal_zones(&d.path().join("class/thermal"));
        assert_eq!(
            t,
            [Thermal {
                zone: "thermal_zone0".into(),
                kind: "cpu-thermal".into(),
                celsius: 48.5
            }]
        );
        let w = mmc_wear(&d.path().join("block"));
        assert_eq!(
            w,
            [Wear {
                device: "mmcblk1".into(),
                life_time_a: Some(2),
                life_time_b: Some(1),
                pre_eol: Some(1)
            }]
        );
    }

    #[test]
    fn this_machine() {
        let s = sample(&Roots::default(), &[("root", Path::new("/"))]);
        assert!(s.memory.unwrap().total > 0);
        assert!(s.cpu.unwrap().cpus > 0);
        assert!(s.self_rss.unwrap() > 0);
        assert!(s.filesystems[0].1.size > 0);
    }
}
