//! A coarse grid of points for "who is within `r` of here" when the few points asked
//! about (players) are rebuilt every tick and `r` is at most the cell size: one pass
//! to file them, then the 3 × 3 cells around each question. Cheaper than the R-tree
//! when a tick asks many questions about a small set (events to players nearby,
//! creatures sensing players).

use glam::Vec2;
use rustc_hash::FxHashMap;

/// Points with a payload, by square cell. Kept between ticks so the cells' buffers
/// are reused.
#[derive(Debug)]
pub struct CellGrid<T> {
    size: f32,
    cells: FxHashMap<(i32, i32), Vec<(Vec2, T)>>,
}

impl<T> Default for CellGrid<T> {
    fn default() -> Self {
        CellGrid {
            size: 1.0,
            cells: FxHashMap::default(),
        }
    }
}

impl<T> CellGrid<T> {
    fn cell(&self, p: Vec2) -> (i32, i32) {
        (
            (p.x / self.size).floor() as i32,
            (p.y / self.size).floor() as i32,
        )
    }

    /// Files `items` in cells of side `size` (metres), replacing what was there.
    pub fn rebuild(&mut self, size: f32, items: impl ExactSizeIterator<Item = (Vec2, T)>) {
        let size = size.max(1.0);
        // Points move on: forget cells nobody stood in lately, and every cell when the
        // size changed.
        if size != self.size || self.cells.len() > 4 * items.len().max(16) {
            self.cells.clear();
            self.size = size;
        }
        self.cells.values_mut().for_each(Vec::clear);
        for (at, item) in items {
            let c = self.cell(at);
            self.cells.entry(c).or_default().push((at, item));
        }
    }

    /// Calls `found(item, at, distance²)` for every point within `radius` of `at`;
    /// `radius` must not exceed the cell size.
    pub fn within(&self, at: Vec2, radius: f32, mut found: impl FnMut(&T, Vec2, f32)) {
        debug_assert!(radius <= self.size);
        let (cx, cy) = self.cell(at);
        for dx in -1..=1 {
            for dy in -1..=1 {
                let Some(list) = self.cells.get(&(cx + dx, cy + dy)) else {
                    continue;
                };
                for (p, item) in list {
                    let d2 = p.distance_squared(at);
                    if d2 <= radius * radius {
                        found(item, *p, d2);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_exactly_the_points_in_the_radius_across_cell_borders() {
        let mut g = CellGrid::default();
        let points = [
            (0.0, 0.0),
            (9.9, 0.0),
            (10.1, 0.0),
            (-6.0, -6.0),
            (25.0, 0.0),
        ];
        g.rebuild(
            10.0,
            points
                .iter()
                .enumerate()
                .map(|(i, &(x, y))| (Vec2::new(x, y), i)),
        );
        let mut hit = Vec::new();
        g.within(Vec2::new(0.5, 0.0), 10.0, |&i, _, _| hit.push(i));
        hit.sort_unstable();
        assert_eq!(hit, [0, 1, 2, 3]);
        // A rebuild replaces the points.
        g.rebuild(10.0, std::iter::once((Vec2::new(25.0, 1.0), 9)));
        let mut hit = Vec::new();
        g.within(Vec2::new(0.5, 0.0), 10.0, |&i, _, _| hit.push(i));
        assert!(hit.is_empty());
    }
}
