//! Simulator configuration: the seed, latencies, every fault probability, and what one
//! node may have of its own ([`NodeConfig`]: disk, faults, clock) and one link
//! ([`LinkConfig`]: a delay factor).
//!
//! Owns plain data only; it never draws a random number or touches the world. Every
//! field says its default, its unit and what it does. Probabilities are per operation
//! (per read, per write, per send, ...) in `0.0..=1.0`; durations are in nanoseconds of
//! virtual time. [`SimConfig::validate`] refuses values the simulator cannot honour.
//!
//! [`SimConfig`]'s `disk` and `faults` are what every node starts with; a node added
//! with its own [`NodeConfig`] (or changed later through `SimControl`) keeps its own.
//!
//! Two presets: [`FaultConfig::none`] (a perfect disk and network, used by the
//! conformance tests) and [`FaultConfig::default`] (rare faults of every kind that keep
//! data intact: EIO, read-side bit flips, resets, torn un-synced writes). Faults that
//! destroy data for real (stored bit flips, lost and misdirected writes) default to
//! zero: a test that enables them must expect acknowledged data to be damaged and check
//! that the damage is detected, not that it cannot happen (or bound it across nodes
//! with a `FaultAtlas`). Misdirected reads and sector decay default to zero too: they
//! keep data intact or destroy it, but no existing workload expects them.

use std::fmt;

/// A latency distribution: `min_ns` plus an exponential with mean `mean_ns - min_ns`,
/// except that with probability `tail_probability` the sample is drawn uniformly from
/// `mean_ns..=tail_ns` (a slow outlier). Samples never exceed `tail_ns`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LatencyConfig {
    /// Smallest latency, ns. Default depends on the use (see [`DiskConfig`], [`NetConfig`]).
    pub min_ns: u64,
    /// Mean of the common case, ns; `>= min_ns`.
    pub mean_ns: u64,
    /// Largest latency (the tail), ns; `>= mean_ns`.
    pub tail_ns: u64,
    /// Probability that one sample is a tail outlier. Default 0.01.
    pub tail_probability: f64,
}

impl LatencyConfig {
    /// A fixed latency (no randomness at all).
    pub const fn fixed(ns: u64) -> LatencyConfig {
        LatencyConfig {
            min_ns: ns,
            mean_ns: ns,
            tail_ns: ns,
            tail_probability: 0.0,
        }
    }

    fn validate(&self, name: &str) -> Result<(), ConfigError> {
        if !(self.min_ns <= self.mean_ns && self.mean_ns <= self.tail_ns) {
            return Err(ConfigError(format!(
                "{name}: need min_ns <= mean_ns <= tail_ns, got {} / {} / {}",
                self.min_ns, self.mean_ns, self.tail_ns
            )));
        }
        probability(&format!("{name}.tail_probability"), self.tail_probability)
    }
}

/// The simulated disk of every node.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DiskConfig {
    /// Bytes a node's disk can allocate, counted in 4 KiB blocks over all files; a write
    /// that needs more completes short, or fails with `ENOSPC` if nothing fits.
    /// Default 1 GiB. Minimum 4096.
    pub capacity_bytes: u64,
    /// O_DIRECT alignment of offsets and lengths (`FileInfo::dio_offset_align`), bytes;
    /// a power of two. Default 512 (what ext4/xfs report on the dev VM's virtio disk).
    pub dio_align_bytes: u32,
    /// Latency of reads. Default min 20 µs, mean 80 µs, tail 2 ms.
    pub read_latency: LatencyConfig,
    /// Latency of writes. Default min 20 µs, mean 60 µs, tail 2 ms.
    pub write_latency: LatencyConfig,
    /// Latency of fsync/fdatasync (and the sync half of a DSYNC write). Default min
    /// 30 µs, mean 100 µs, tail 5 ms.
    pub sync_latency: LatencyConfig,
}

impl Default for DiskConfig {
    fn default() -> Self {
        DiskConfig {
            capacity_bytes: 1 << 30,
            dio_align_bytes: 512,
            read_latency: LatencyConfig {
                min_ns: 20_000,
                mean_ns: 80_000,
                tail_ns: 2_000_000,
                tail_probability: 0.01,
            },
            write_latency: LatencyConfig {
                min_ns: 20_000,
                mean_ns: 60_000,
                tail_ns: 2_000_000,
                tail_probability: 0.01,
            },
            sync_latency: LatencyConfig {
                min_ns: 30_000,
                mean_ns: 100_000,
                tail_ns: 5_000_000,
                tail_probability: 0.01,
            },
        }
    }
}

/// The simulated network between nodes.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct NetConfig {
    /// One-way delay of a segment (and of SYN, SYN-ACK, FIN). Default min 50 µs, mean
    /// 200 µs, tail 10 ms. Bytes of one stream always arrive in order (TCP), so a
    /// segment never overtakes an earlier one: jitter shows up as bunching.
    pub delay: LatencyConfig,
    /// How long `connect` waits when the SYN cannot get through (partition, dead or
    /// unknown host) before failing with `ETIMEDOUT`, ns. Default 1 s.
    pub connect_timeout_ns: u64,
    /// How long TCP retransmits bytes no acknowledgement comes back for before it gives
    /// up, ns: a connection with bytes in flight across a partition (either direction:
    /// data or acknowledgements) is reset this long after its bytes were first held,
    /// and one whose peer host died (half-open) fails with `ETIMEDOUT` this long after
    /// its first unacknowledged send. An idle connection never times out (no
    /// keepalive). Default 2 s.
    pub partition_reset_after_ns: u64,
    /// Bytes one direction of a stream buffers (sent, not yet received) before `send`
    /// waits: the socket buffers' backpressure. Default 256 KiB. Minimum 1.
    pub stream_buffer_bytes: usize,
}

impl Default for NetConfig {
    fn default() -> Self {
        NetConfig {
            delay: LatencyConfig {
                min_ns: 50_000,
                mean_ns: 200_000,
                tail_ns: 10_000_000,
                tail_probability: 0.01,
            },
            connect_timeout_ns: 1_000_000_000,
            partition_reset_after_ns: 2_000_000_000,
            stream_buffer_bytes: 256 << 10,
        }
    }
}

/// Fault probabilities. All default to the values of [`FaultConfig::default`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FaultConfig {
    /// A read fails with `EIO` (nothing read). Default 0.001.
    pub read_eio_probability: f64,
    /// A successful read returns one flipped bit (the stored image is intact, a re-read
    /// may be clean). Default 0.001.
    pub read_bit_flip_probability: f64,
    /// A read that would return bytes returns only a prefix of them: a random whole
    /// number of 512-byte sectors, at least one sector fewer than the file holds there
    /// (possibly none), with `Ok`. Linux allows a read to complete short anywhere in a
    /// file, not only at its end; a reader that takes a short read for the end of the
    /// file sees zeros, or an older copy, where the file holds data. The stored image is
    /// intact. Reads at or past the end of the file are unchanged. Default 0.
    pub short_read_probability: f64,
    /// A write fails with `EIO`; a random subset of its 512-byte sectors may still
    /// have reached the file, un-synced. Default 0.001.
    pub write_eio_probability: f64,
    /// An `fsync`/`fdatasync` fails with `EIO`, with Linux's semantics: each un-synced
    /// change it covered is either made durable or silently dropped from the durable
    /// path (it stays visible to reads until a crash), and a later sync may succeed
    /// without writing it again. Default 0.001.
    pub sync_eio_probability: f64,
    /// A write stores one flipped bit (latent corruption: every later read sees it).
    /// Destroys data. Default 0.
    pub stored_bit_flip_probability: f64,
    /// A write reports success but never reaches the file. Destroys data. Default 0.
    pub lost_write_probability: f64,
    /// A write reports success but lands at a wrong offset (a multiple of the dio
    /// alignment, 1..=8 units away); the intended range keeps its old bytes. Destroys
    /// data. Default 0.
    pub misdirected_write_probability: f64,
    /// At a crash, each un-synced change (write, size change) survives independently with
    /// this probability, replayed in its original order. Default 0.5.
    pub crash_keep_unsynced_probability: f64,
    /// At a crash, a surviving un-synced write is torn with this probability: each of its
    /// 512-byte sectors then survives independently (so it can be cut at any 512-byte
    /// boundary, or keep a ragged subset). Default 0.25.
    pub crash_torn_write_probability: f64,
    /// At a crash, a file whose directory was not synced (`Io::sync_dir`) after the file
    /// was created vanishes with this probability, however much of its data was synced
    /// (its directory entry was never made durable). Default 0.5.
    pub crash_drop_unsynced_file_probability: f64,
    /// A `send` resets the connection instead (both ends see `ECONNRESET`). This is how
    /// the simulator models packet loss on a stream: TCP never loses bytes silently, it
    /// retransmits and, if that fails for long enough, resets. Default 0.0005.
    pub stream_reset_probability: f64,
    /// A `send` of more than one byte accepts only a random prefix (a short send, as a
    /// full socket buffer gives). Default 0.05.
    pub short_send_probability: f64,
    /// A successful read returns the bytes of another offset of the same file (a
    /// multiple of the dio alignment, 1..=8 units away; zeros past its end); the stored
    /// image is intact and a re-read may be right. Default 0.
    pub misdirected_read_probability: f64,
    /// Sector decay at rest: the mean virtual time between two sectors of this disk
    /// going bad (a latent sector error: reads that touch it fail with `EIO` until a
    /// write covers the whole sector), ns; exponential. Only written sectors decay.
    /// Destroys data. Default 0 (never). Applied lazily, at the node's next disk
    /// operation, so decay draws from the node's own fault stream.
    pub sector_decay_mean_ns: u64,
}

impl FaultConfig {
    /// No faults at all: a perfect disk and network. Crashes still lose un-synced data
    /// (that is not a fault, it is the contract), with the default crash probabilities.
    pub fn none() -> FaultConfig {
        FaultConfig {
            read_eio_probability: 0.0,
            read_bit_flip_probability: 0.0,
            write_eio_probability: 0.0,
            sync_eio_probability: 0.0,
            stored_bit_flip_probability: 0.0,
            lost_write_probability: 0.0,
            misdirected_write_probability: 0.0,
            stream_reset_probability: 0.0,
            short_send_probability: 0.0,
            misdirected_read_probability: 0.0,
            sector_decay_mean_ns: 0,
            ..FaultConfig::default()
        }
    }

    /// These faults with every fault that destroys or misplaces data turned off
    /// (stored bit flips, lost and misdirected writes, misdirected reads, sector
    /// decay), keeping the transient ones (EIO, read flips, resets, short sends) and
    /// the crash rules.
    pub fn without_data_loss(self) -> FaultConfig {
        FaultConfig {
            stored_bit_flip_probability: 0.0,
            lost_write_probability: 0.0,
            misdirected_write_probability: 0.0,
            misdirected_read_probability: 0.0,
            sector_decay_mean_ns: 0,
            ..self
        }
    }

    fn validate(&self) -> Result<(), ConfigError> {
        for (name, p) in [
            ("read_eio_probability", self.read_eio_probability),
            ("read_bit_flip_probability", self.read_bit_flip_probability),
            ("short_read_probability", self.short_read_probability),
            ("write_eio_probability", self.write_eio_probability),
            ("sync_eio_probability", self.sync_eio_probability),
            (
                "stored_bit_flip_probability",
                self.stored_bit_flip_probability,
            ),
            ("lost_write_probability", self.lost_write_probability),
            (
                "misdirected_write_probability",
                self.misdirected_write_probability,
            ),
            (
                "crash_keep_unsynced_probability",
                self.crash_keep_unsynced_probability,
            ),
            (
                "crash_torn_write_probability",
                self.crash_torn_write_probability,
            ),
            (
                "crash_drop_unsynced_file_probability",
                self.crash_drop_unsynced_file_probability,
            ),
            ("stream_reset_probability", self.stream_reset_probability),
            ("short_send_probability", self.short_send_probability),
            (
                "misdirected_read_probability",
                self.misdirected_read_probability,
            ),
        ] {
            probability(name, p)?;
        }
        Ok(())
    }
}

impl Default for FaultConfig {
    fn default() -> Self {
        FaultConfig {
            read_eio_probability: 0.001,
            read_bit_flip_probability: 0.001,
            short_read_probability: 0.0,
            write_eio_probability: 0.001,
            sync_eio_probability: 0.001,
            stored_bit_flip_probability: 0.0,
            lost_write_probability: 0.0,
            misdirected_write_probability: 0.0,
            crash_keep_unsynced_probability: 0.5,
            crash_torn_write_probability: 0.25,
            crash_drop_unsynced_file_probability: 0.5,
            stream_reset_probability: 0.0005,
            short_send_probability: 0.05,
            misdirected_read_probability: 0.0,
            sector_decay_mean_ns: 0,
        }
    }
}

/// A node's monotonic clock against virtual time: `local = offset_ns + virtual *
/// (1 + drift_ppm / 1e6)`. Timers of the node's tasks fire by this clock.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct ClockConfig {
    /// The node's clock at virtual time 0, ns. Default 0.
    pub offset_ns: u64,
    /// How fast the node's clock runs against virtual time, parts per million (+100:
    /// 100 µs fast per second). Default 0. Range `-500_000..=500_000`.
    pub drift_ppm: i32,
}

/// Drift beyond this, in ppm, either way, is refused (a clock must move forward).
pub const CLOCK_DRIFT_PPM_MAX: i32 = 500_000;

impl ClockConfig {
    fn validate(&self, name: &str) -> Result<(), ConfigError> {
        if self.drift_ppm.abs() > CLOCK_DRIFT_PPM_MAX {
            return Err(ConfigError(format!(
                "{name}.drift_ppm must be within ±{CLOCK_DRIFT_PPM_MAX}, got {}",
                self.drift_ppm
            )));
        }
        Ok(())
    }
}

/// What one node has of its own: its disk, its faults and its clock. Every node also
/// has its own fault streams (one for its disk, one for what it sends), derived from
/// the seed and its id, so one node's I/O never shifts another node's faults.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct NodeConfig {
    pub disk: DiskConfig,
    pub faults: FaultConfig,
    pub clock: ClockConfig,
}

impl NodeConfig {
    /// Refuses values the simulator cannot honour, saying what to change.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.disk.validate()?;
        self.faults.validate()?;
        self.clock.validate("clock")
    }
}

/// One direction of a link between two nodes (`from -> to`): a slow or clogged link.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LinkConfig {
    /// Every delay drawn for this link is multiplied by this. Default 1.0. Minimum 0.
    pub delay_factor: f64,
    /// Added to every delay of this link, ns (a clogged link). Default 0.
    pub extra_delay_ns: u64,
}

impl Default for LinkConfig {
    fn default() -> Self {
        LinkConfig {
            delay_factor: 1.0,
            extra_delay_ns: 0,
        }
    }
}

impl LinkConfig {
    /// Refuses a factor that is negative or not finite.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !(self.delay_factor.is_finite() && self.delay_factor >= 0.0) {
            return Err(ConfigError(format!(
                "link delay_factor must be finite and >= 0, got {}",
                self.delay_factor
            )));
        }
        Ok(())
    }
}

/// Everything that decides a simulated run.
#[derive(Clone, Copy, Debug, PartialEq, Default)]
pub struct SimConfig {
    /// Decides every scheduling choice, latency and fault. Default 0.
    pub seed: u64,
    /// The disk every node starts with.
    pub disk: DiskConfig,
    pub net: NetConfig,
    /// The faults every node starts with.
    pub faults: FaultConfig,
    /// Each node added without its own [`NodeConfig`] draws its clock offset uniformly
    /// from `0..=clock_offset_ns_max`, ns (from its own stream). Default 0.
    pub clock_offset_ns_max: u64,
    /// ... and its drift uniformly from `-clock_drift_ppm_max..=clock_drift_ppm_max`.
    /// Default 0. At most [`CLOCK_DRIFT_PPM_MAX`].
    pub clock_drift_ppm_max: u32,
}

impl SimConfig {
    /// Defaults with the given seed.
    pub fn with_seed(seed: u64) -> SimConfig {
        SimConfig {
            seed,
            ..SimConfig::default()
        }
    }

    /// Refuses values the simulator cannot honour, saying what to change.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.disk.validate()?;
        self.net.delay.validate("net.delay")?;
        if self.net.stream_buffer_bytes == 0 {
            return Err(ConfigError(
                "net.stream_buffer_bytes must be at least 1".into(),
            ));
        }
        if self.clock_drift_ppm_max > CLOCK_DRIFT_PPM_MAX as u32 {
            return Err(ConfigError(format!(
                "clock_drift_ppm_max must be at most {CLOCK_DRIFT_PPM_MAX}, got {}",
                self.clock_drift_ppm_max
            )));
        }
        self.faults.validate()
    }
}

impl DiskConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        let d = self;
        if d.capacity_bytes < 4096 {
            return Err(ConfigError(format!(
                "disk.capacity_bytes must be at least 4096, got {}",
                d.capacity_bytes
            )));
        }
        if !d.dio_align_bytes.is_power_of_two() || d.dio_align_bytes > 4096 {
            return Err(ConfigError(format!(
                "disk.dio_align_bytes must be a power of two <= 4096, got {}",
                d.dio_align_bytes
            )));
        }
        d.read_latency.validate("disk.read_latency")?;
        d.write_latency.validate("disk.write_latency")?;
        d.sync_latency.validate("disk.sync_latency")
    }
}

fn probability(name: &str, p: f64) -> Result<(), ConfigError> {
    if (0.0..=1.0).contains(&p) {
        Ok(())
    } else {
        Err(ConfigError(format!("{name} must be in 0.0..=1.0, got {p}")))
    }
}

/// A [`SimConfig`] value the simulator refuses; the message says what to change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError(pub String);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid SimConfig: {}", self.0)
    }
}

impl std::error::Error for ConfigError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_validate() {
        SimConfig::default().validate().unwrap();
        SimConfig {
            faults: FaultConfig::none(),
            ..SimConfig::default()
        }
        .validate()
        .unwrap();
    }

    #[test]
    fn bad_values_are_refused_with_a_reason() {
        let mut c = SimConfig::default();
        c.faults.read_eio_probability = 1.5;
        assert!(c.validate().unwrap_err().0.contains("read_eio_probability"));
        let mut c = SimConfig::default();
        c.disk.dio_align_bytes = 500;
        assert!(c.validate().unwrap_err().0.contains("dio_align_bytes"));
        let mut c = SimConfig::default();
        c.faults.misdirected_read_probability = -0.1;
        assert!(
            c.validate()
                .unwrap_err()
                .0
                .contains("misdirected_read_probability")
        );
        let n = NodeConfig {
            disk: DiskConfig::default(),
            faults: FaultConfig::none(),
            clock: ClockConfig {
                offset_ns: 0,
                drift_ppm: -600_000,
            },
        };
        assert!(n.validate().unwrap_err().0.contains("drift_ppm"));
        let l = LinkConfig {
            delay_factor: f64::NAN,
            extra_delay_ns: 0,
        };
        assert!(l.validate().unwrap_err().0.contains("delay_factor"));
    }
}
