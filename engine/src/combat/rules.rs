//! Pure combat rules, tested beside the code.

/// HP after `amount` damage (never below 0), and whether this hit killed.
pub fn apply_damage(hp: u32, amount: u32) -> (u32, bool) {
    let after = hp.saturating_sub(amount);
    (after, hp > 0 && after == 0)
}

/// HP after a heal of `amount` (never above `max`), and how much was actually restored.
pub fn apply_heal(hp: u32, max: u32, amount: u32) -> (u32, u32) {
    let after = hp.saturating_add(amount).min(max);
    (after, after.saturating_sub(hp))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn damage_stops_at_zero_and_kills_once() {
        assert_eq!(apply_damage(50, 20), (30, false));
        assert_eq!(apply_damage(20, 50), (0, true));
        assert_eq!(apply_damage(0, 50), (0, false));
    }

    #[test]
    fn heal_caps_at_max_hp() {
        assert_eq!(apply_heal(150, 200, 60), (200, 50));
        assert_eq!(apply_heal(100, 200, 60), (160, 60));
        assert_eq!(apply_heal(200, 200, 60), (200, 0));
    }
}
