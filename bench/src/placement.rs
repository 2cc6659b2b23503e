//! Which CPUs take the interrupts of the block device a job's files live on, so a run
//! can say when a job shares its CPU with the device's completion work.
//!
//! Why it matters (measured on the dev VM, NVMe-NOTES.md "CPU placement"): virtio-blk
//! there has one queue whose interrupt goes to one CPU, and without FUA every durable
//! write also needs a flush issued from completion context on that CPU. A CPU-bound job
//! pinned to it (boreal-journal at 256 appenders) lost ~35% of its records/s to that
//! work; a depth-1 latency job gains a little from it (completions stay local). A run
//! reports, per job, the device and the CPUs that took its interrupts, notes a job
//! pinned onto one of them, and deals jobs without `cpus_allowed` to the other CPUs
//! first ([`quiet_first`]); it never overrides `cpus_allowed`.
//!
//! How: the directory's `st_dev` names the block device (`/sys/dev/block/MAJ:MIN`);
//! its sysfs path leads up to the PCI function, whose `msi_irqs/` lists the device's
//! interrupts; `/proc/interrupts` gives each one's count per CPU since boot. A CPU
//! "serves" the device if any of its interrupts landed there. Anything missing (not a
//! block device, no MSI, no /proc) yields `None`: placement is advice, never an error.
//!
//! The same lookup gives the disk under a path and its flush counter ([`disk_of`],
//! [`disk_flushes`]), which the cluster engine reads to count device flushes per
//! commit the way `scripts/measure.sh` counts them for its peers.

use std::collections::BTreeSet;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// A block device and the CPUs its interrupts landed on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceIrqs {
    /// Kernel name of the device (`vda`, `nvme0n1`).
    pub device: String,
    /// Names of its interrupts as `/proc/interrupts` shows them (`virtio1-req.0`).
    pub irq_names: Vec<String>,
    /// CPUs with a non-zero count for any of them.
    pub cpus: Vec<usize>,
}

/// The device holding `path` (or its nearest existing ancestor) and the CPUs that took
/// its interrupts; `None` when that cannot be found out.
pub fn device_irqs(path: &Path) -> Option<DeviceIrqs> {
    let sys = sys_block_dir(path)?;
    let device = whole_disk_name(&sys)?;
    let irqs = msi_irqs(&sys)?;
    let table = std::fs::read_to_string("/proc/interrupts").ok()?;
    let (irq_names, cpus) = serving_cpus(&table, &irqs);
    Some(DeviceIrqs {
        device,
        irq_names,
        cpus: cpus.into_iter().collect(),
    })
}

/// The sysfs directory of the block device holding `path` (or its nearest existing
/// ancestor).
fn sys_block_dir(path: &Path) -> Option<PathBuf> {
    let existing = path.ancestors().find(|p| p.exists())?;
    let dev = std::fs::metadata(existing).ok()?.dev();
    let (major, minor) = split_dev(dev);
    std::fs::canonicalize(format!("/sys/dev/block/{major}:{minor}")).ok()
}

/// The name of the whole disk holding `path` (`vda` for a file on `/dev/vda1`).
pub fn disk_of(path: &Path) -> Option<String> {
    whole_disk_name(&sys_block_dir(path)?)
}

/// Flush requests the disk `name` completed since boot: field 16 of
/// `/sys/block/NAME/stat` (kernel 5.5 and later; `None` before, or when unreadable).
pub fn disk_flushes(name: &str) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/sys/block/{name}/stat")).ok()?;
    text.split_whitespace().nth(15)?.parse().ok()
}

/// `allowed` reordered: the CPUs not in `irq_cpus` first, then those in it, each part
/// in its original order (so round-robin placement fills the quiet CPUs first).
pub fn quiet_first(allowed: &[usize], irq_cpus: &[usize]) -> Vec<usize> {
    let (quiet, busy): (Vec<usize>, Vec<usize>) =
        allowed.iter().partition(|c| !irq_cpus.contains(c));
    quiet.into_iter().chain(busy).collect()
}

/// glibc's `major`/`minor` split of a `dev_t`.
fn split_dev(dev: u64) -> (u64, u64) {
    let major = ((dev >> 8) & 0xfff) | ((dev >> 32) & !0xfff);
    let minor = (dev & 0xff) | ((dev >> 12) & !0xff);
    (major, minor)
}

/// `.../block/vda` → `vda`; `.../block/vda/vda1` → `vda` (a partition's disk).
fn whole_disk_name(sys: &Path) -> Option<String> {
    let parts: Vec<&str> = sys.iter().filter_map(|c| c.to_str()).collect();
    let at = parts.iter().rposition(|&c| c == "block")?;
    parts.get(at + 1).map(|s| (*s).to_string())
}

/// The interrupts listed by the nearest ancestor of `sys` with an `msi_irqs` directory.
fn msi_irqs(sys: &Path) -> Option<BTreeSet<u32>> {
    let mut dir: Option<PathBuf> = Some(sys.to_path_buf());
    while let Some(d) = dir {
        if let Ok(entries) = std::fs::read_dir(d.join("msi_irqs")) {
            let irqs: BTreeSet<u32> = entries
                .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
                .collect();
            return (!irqs.is_empty()).then_some(irqs);
        }
        dir = d.parent().map(Path::to_path_buf);
    }
    None
}

/// From `/proc/interrupts` text: the names of `irqs` and the CPUs where any of them
/// has a non-zero count.
fn serving_cpus(table: &str, irqs: &BTreeSet<u32>) -> (Vec<String>, BTreeSet<usize>) {
    let mut lines = table.lines();
    let cpu_columns: Vec<usize> = lines
        .next()
        .map(|h| {
            h.split_whitespace()
                .filter_map(|c| c.strip_prefix("CPU")?.parse().ok())
                .collect()
        })
        .unwrap_or_default();
    let (mut names, mut cpus) = (Vec::new(), BTreeSet::new());
    for line in lines {
        let Some((label, rest)) = line.split_once(':') else {
            continue;
        };
        let Ok(irq) = label.trim().parse::<u32>() else {
            continue;
        };
        if !irqs.contains(&irq) {
            continue;
        }
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let mut busy = false;
        for (i, &cpu) in cpu_columns.iter().enumerate() {
            if fields
                .get(i)
                .and_then(|f| f.parse::<u64>().ok())
                .unwrap_or(0)
                > 0
            {
                cpus.insert(cpu);
                busy = true;
            }
        }
        if busy && let Some(name) = fields.last() {
            names.push((*name).to_string());
        }
    }
    (names, cpus)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TABLE: &str = "           CPU0       CPU1       \n\
 35:          0          1 PCI-MSIX-0000:00:02.0   0-edge      virtio1-config\n\
 36:          0   31244791 PCI-MSIX-0000:00:02.0   1-edge      virtio1-req.0\n\
 37:        500          0 PCI-MSIX-0000:00:03.0   0-edge      virtio2-input.0\n\
NMI:          0          0   Non-maskable interrupts\n";

    #[test]
    fn serving_cpus_are_those_with_counts_for_the_device_irqs() {
        let irqs: BTreeSet<u32> = [35, 36].into();
        let (names, cpus) = serving_cpus(TABLE, &irqs);
        assert_eq!(names, ["virtio1-config", "virtio1-req.0"]);
        assert_eq!(cpus.into_iter().collect::<Vec<_>>(), [1]);
        let (names, cpus) = serving_cpus(TABLE, &[37].into());
        assert_eq!(names, ["virtio2-input.0"]);
        assert_eq!(cpus.into_iter().collect::<Vec<_>>(), [0]);
        assert!(serving_cpus(TABLE, &[99].into()).1.is_empty());
        assert!(serving_cpus("", &irqs).1.is_empty());
    }

    #[test]
    fn quiet_cpus_come_first_in_their_order() {
        assert_eq!(quiet_first(&[0, 1], &[1]), [0, 1]);
        assert_eq!(quiet_first(&[0, 1], &[0]), [1, 0]);
        assert_eq!(quiet_first(&[0, 1, 2, 3], &[0, 2]), [1, 3, 0, 2]);
        assert_eq!(quiet_first(&[4, 5], &[]), [4, 5]);
        assert_eq!(quiet_first(&[4, 5], &[4, 5]), [4, 5]);
    }

    #[test]
    fn dev_numbers_and_disk_names_split_like_glibc() {
        // makedev(253, 0) and makedev(259, 65537).
        assert_eq!(split_dev(0xfd00), (253, 0));
        assert_eq!(split_dev(0x1001_0301), (259, 65537));
        let p = Path::new("/sys/devices/pci0000:00/0000:00:02.0/virtio1/block/vda/vda1");
        assert_eq!(whole_disk_name(p).as_deref(), Some("vda"));
        let p = Path::new("/sys/devices/pci0000:00/0000:00:02.0/virtio1/block/vda");
        assert_eq!(whole_disk_name(p).as_deref(), Some("vda"));
        assert_eq!(whole_disk_name(Path::new("/sys/devices/x")), None);
    }
}
