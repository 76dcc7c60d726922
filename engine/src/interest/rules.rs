//! Interest rules as pure functions: hysteresis, priority and selection.

/// Whether a candidate at squared distance `d2` belongs in the view: newcomers must be
/// within `radius`, entities already tracked stay until beyond `radius + margin`.
pub fn in_view(d2: f32, already_tracked: bool, radius: f32, margin: f32) -> bool {
    let limit = if already_tracked {
        radius + margin
    } else {
        radius
    };
    d2 <= limit * limit
}

/// Priority an entity at `distance` gains per tick while it waits for a refresh.
pub fn priority_gain(distance: f32, falloff: f32) -> f32 {
    1.0 / (1.0 + distance / falloff)
}

/// Reorders `items` so the `keep` with the smallest key come first (unordered) and
/// returns how many were kept. O(n).
pub fn keep_smallest<T>(items: &mut [T], keep: usize, key: impl Fn(&T) -> f32) -> usize {
    if items.len() <= keep {
        return items.len();
    }
    if keep == 0 {
        return 0;
    }
    items.select_nth_unstable_by(keep - 1, |a, b| key(a).total_cmp(&key(b)));
    keep
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hysteresis_enters_at_radius_and_leaves_beyond_margin() {
        let (r, m) = (50.0, 8.0);
        assert!(in_view(49.9f32.powi(2), false, r, m));
        assert!(!in_view(50.1f32.powi(2), false, r, m)); // newcomer outside r
        assert!(in_view(57.9f32.powi(2), true, r, m)); // tracked, inside margin
        assert!(!in_view(58.1f32.powi(2), true, r, m)); // tracked, beyond margin
    }

    #[test]
    fn near_entities_gain_priority_faster() {
        assert!(priority_gain(0.0, 15.0) > priority_gain(10.0, 15.0));
        assert!(priority_gain(10.0, 15.0) > priority_gain(100.0, 15.0));
        assert_eq!(priority_gain(0.0, 15.0), 1.0);
    }

    #[test]
    fn keep_smallest_selects_nearest() {
        let mut v = vec![5.0, 1.0, 9.0, 3.0, 7.0];
        let n = keep_smallest(&mut v, 2, |x| *x);
        let mut kept = v[..n].to_vec();
        kept.sort_by(f32::total_cmp);
        assert_eq!(kept, vec![1.0, 3.0]);
        assert_eq!(keep_smallest(&mut v, 10, |x| *x), 5);
    }
}
