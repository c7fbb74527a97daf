//! Errors that name the thing, where it is, what was expected and what was found.
//!
//! Library code returns [`Error`]; only `main` decides how a failure ends the process.

use std::path::PathBuf;

/// Every failure the library reports.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A parameter outside its valid range (or NaN).
    #[error("{field} = {value} is invalid: expected {expected}")]
    Param {
        /// Dotted path of the field, e.g. `lif.tau_mem_ms`.
        field: String,
        /// The value found, formatted.
        value: String,
        /// What a valid value looks like.
        expected: String,
    },
    /// A reset value that is not below the threshold, so the neuron would fire forever.
    #[error("{model}.v_reset_mv = {v_reset_mv} must be below v_th_mv = {v_th_mv}")]
    ResetNotBelowThreshold {
        /// Neuron model name.
        model: &'static str,
        /// The reset value.
        v_reset_mv: f32,
        /// The threshold.
        v_th_mv: f32,
    },
    /// A duration that must be a whole number of time steps and is not.
    #[error("{what} = {value_ms} ms is not a whole number of steps of dt = {dt_ms} ms")]
    NotWholeSteps {
        /// What the duration is (e.g. `delay of projection exc->inh`).
        what: String,
        /// The duration in ms.
        value_ms: f64,
        /// The time step in ms.
        dt_ms: f64,
    },
    /// A delay longer than the ring buffers were configured for.
    #[error("{what}: delay of {delay_steps} steps exceeds the maximum of {max_steps} steps (raise NetworkConfig::max_delay_ms)")]
    DelayTooLong {
        /// Which projection.
        what: String,
        /// The requested delay in steps.
        delay_steps: u32,
        /// The configured maximum in steps.
        max_steps: u32,
    },
    /// A delay-0 projection that points backwards (or to itself) in the schedule.
    #[error("{what}: a delay of 0 steps is only allowed forward in the schedule (pre population must be added before post)")]
    ZeroDelayBackward {
        /// Which projection.
        what: String,
    },
    /// An index outside its range.
    #[error("{what}: index {index} out of range 0..{len}")]
    IndexOutOfRange {
        /// What the index addresses.
        what: String,
        /// The index found.
        index: usize,
        /// The valid length.
        len: usize,
    },
    /// Two sizes that must agree and do not.
    #[error("{what}: expected {expected} values, got {got}")]
    SizeMismatch {
        /// What was being sized.
        what: String,
        /// The expected count.
        expected: usize,
        /// The count found.
        got: usize,
    },
    /// A population of zero neurons.
    #[error("population '{name}' has zero neurons")]
    EmptyPopulation {
        /// The population's name.
        name: String,
    },
    /// A request that the addressed object does not support.
    #[error("{0}")]
    Unsupported(String),
    /// A network description given in memory (a traced PyTorch module, a live Keras model) that
    /// cannot become a somnet network.
    #[error("{model}: {message}")]
    Model {
        /// What the description was made from.
        model: String,
        /// What is wrong, naming the layer and field.
        message: String,
    },
    /// An I/O failure, with the file it concerns.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A file whose content is not what was expected.
    #[error("{path}: {message}")]
    File {
        /// The file.
        path: PathBuf,
        /// What is wrong, naming the field and what was expected.
        message: String,
    },
    /// A file whose checksum does not match its recorded one.
    #[error("{path}: SHA-256 {got} does not match {expected} in {sums}")]
    Checksum {
        /// The file.
        path: PathBuf,
        /// The SHA256SUMS file.
        sums: PathBuf,
        /// The recorded checksum.
        expected: String,
        /// The checksum of the file.
        got: String,
    },
    /// Building a thread pool failed.
    #[error("thread pool: {0}")]
    ThreadPool(#[from] rayon::ThreadPoolBuildError),
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// Shorthand for [`Error::Param`].
    pub fn param(
        field: impl Into<String>,
        value: impl std::fmt::Display,
        expected: impl Into<String>,
    ) -> Self {
        Error::Param {
            field: field.into(),
            value: value.to_string(),
            expected: expected.into(),
        }
    }
}

impl Error {
    /// Shorthand for [`Error::File`].
    pub fn file(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        Error::File {
            path: path.into(),
            message: message.into(),
        }
    }

    /// Shorthand for [`Error::Io`].
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}

/// Checks that `value` is finite and strictly positive.
pub(crate) fn positive(field: &str, value: f64) -> Result<()> {
    if value.is_finite() && value > 0.0 {
        Ok(())
    } else {
        Err(Error::param(field, value, "a finite number > 0"))
    }
}

/// Checks that `value` is finite (not NaN or infinite).
pub(crate) fn finite(field: &str, value: f64) -> Result<()> {
    if value.is_finite() {
        Ok(())
    } else {
        Err(Error::param(field, value, "a finite number"))
    }
}

/// Checks that `value` is a probability in [0, 1].
pub(crate) fn probability(field: &str, value: f64) -> Result<()> {
    if (0.0..=1.0).contains(&value) {
        Ok(())
    } else {
        Err(Error::param(field, value, "a probability in [0, 1]"))
    }
}
