//! Quantization of world values for the wire. Positions travel as whole centimetres
//! (`i32`), so the worst-case error of a decoded position is 0.5 cm per axis and the
//! range is ±21,474 km, far beyond any zone.

/// Centimetres per metre: the position quantum is 1 cm.
pub const CM_PER_METRE: f32 = 100.0;

/// The largest error quantization introduces on one axis, in metres.
pub const POSITION_EPSILON_M: f32 = 0.5 / CM_PER_METRE;

/// Metres to whole centimetres, rounding to nearest; non-finite input becomes 0.
pub fn metres_to_cm(metres: f32) -> i32 {
    if metres.is_finite() {
        (metres * CM_PER_METRE).round() as i32
    } else {
        0
    }
}

/// Centimetres back to metres.
pub fn cm_to_metres(cm: i32) -> f32 {
    cm as f32 / CM_PER_METRE
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_is_within_half_a_centimetre() {
        for m in [0.0f32, 0.004, 0.006, -3.337, 1999.995, 123.456] {
            let back = cm_to_metres(metres_to_cm(m));
            assert!(
                (back - m).abs() <= POSITION_EPSILON_M + 1e-4,
                "{m} -> {back}"
            );
        }
        assert_eq!(metres_to_cm(f32::NAN), 0);
    }
}
