//! Time: the step size and the only place where milliseconds become whole steps.
//!
//! The engine counts time in integer steps. A duration given in ms (a delay, a refractory period)
//! is converted once, here, and must be a whole number of steps: comparing `f32` times every step
//! drifts, and a delay of 1.5 steps has no meaning in a clock-driven ring buffer.

use crate::error::{Error, Result};

/// A validated time step in milliseconds (finite, > 0).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Dt {
    ms: f64,
}

/// Relative tolerance when deciding whether `t / dt` is a whole number: `5.0 / 0.1` is
/// 49.999999999999993 in binary floating point and must count as 50 steps.
const WHOLE_TOLERANCE: f64 = 1e-6;

impl Dt {
    /// A time step of `dt_ms` milliseconds.
    ///
    /// ```
    /// let dt = somnet::time::Dt::new(0.1).unwrap();
    /// assert_eq!(dt.steps_exact("refractory", 5.0).unwrap(), 50);
    /// assert!(somnet::time::Dt::new(0.0).is_err());
    /// ```
    pub fn new(dt_ms: f64) -> Result<Dt> {
        crate::error::positive("dt_ms", dt_ms)?;
        Ok(Dt { ms: dt_ms })
    }

    /// The step in ms.
    pub fn ms(self) -> f64 {
        self.ms
    }

    /// `t_ms` as a whole number of steps; an error names `what` if it is negative, NaN or not whole.
    pub fn steps_exact(self, what: &str, t_ms: f64) -> Result<u32> {
        let not_whole = || Error::NotWholeSteps {
            what: what.to_string(),
            value_ms: t_ms,
            dt_ms: self.ms,
        };
        if !t_ms.is_finite() || t_ms < 0.0 {
            return Err(Error::param(what, t_ms, "a finite duration >= 0 ms"));
        }
        let steps = t_ms / self.ms;
        let rounded = steps.round();
        if (steps - rounded).abs() > WHOLE_TOLERANCE * rounded.max(1.0) || rounded > u32::MAX as f64
        {
            return Err(not_whole());
        }
        Ok(rounded as u32)
    }

    /// The number of steps that cover `t_ms` (rounded to the nearest step): for simulation lengths.
    pub fn steps_covering(self, what: &str, t_ms: f64) -> Result<u64> {
        if !t_ms.is_finite() || t_ms < 0.0 {
            return Err(Error::param(what, t_ms, "a finite duration >= 0 ms"));
        }
        Ok((t_ms / self.ms).round() as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_steps_tolerate_binary_rounding_but_not_fractions() {
        let dt = Dt::new(0.1).unwrap();
        assert_eq!(dt.steps_exact("t", 5.0).unwrap(), 50);
        assert_eq!(dt.steps_exact("t", 0.3).unwrap(), 3);
        assert!(matches!(
            dt.steps_exact("t", 0.15),
            Err(Error::NotWholeSteps { .. })
        ));
        assert!(dt.steps_exact("t", -0.1).is_err());
        assert!(dt.steps_exact("t", f64::NAN).is_err());
        assert_eq!(dt.steps_covering("t", 1000.0).unwrap(), 10_000);
    }
}
