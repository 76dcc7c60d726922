//! Net id → this tick's frame index, paged so it costs what the live ids need.

/// Net id → frame index, in pages of 1,024 ids that exist while any id in them is in
/// the frame. Net ids are handed out in order and reused only after the 32-bit counter
/// wraps (every projectile takes one), so a flat table would grow with every id a zone
/// ever issued; a hash map would cost more on the per-tick lookups of every tracked
/// entity.
#[derive(Default)]
pub(super) struct NetTable {
    pages: Vec<Option<Box<NetPage>>>,
    /// Pages whose last id was unset, to free once the refresh has set this tick's.
    emptied: Vec<usize>,
}

struct NetPage {
    live: u32,
    frame: [u32; NetTable::PAGE],
}

impl NetTable {
    const PAGE_BITS: u32 = 10;
    const PAGE: usize = 1 << Self::PAGE_BITS;
    const ABSENT: u32 = u32::MAX;

    fn split(id: u32) -> (usize, usize) {
        (
            (id >> Self::PAGE_BITS) as usize,
            id as usize & (Self::PAGE - 1),
        )
    }

    #[inline]
    pub(super) fn get(&self, id: u32) -> Option<u32> {
        let (page, at) = Self::split(id);
        let i = self.pages.get(page)?.as_ref()?.frame[at];
        (i != Self::ABSENT).then_some(i)
    }

    pub(super) fn set(&mut self, id: u32, frame_idx: u32) {
        let (page, at) = Self::split(id);
        if page >= self.pages.len() {
            self.pages.resize_with(page + 1, || None);
        }
        let p = self.pages[page].get_or_insert_with(|| {
            Box::new(NetPage {
                live: 0,
                frame: [Self::ABSENT; Self::PAGE],
            })
        });
        if p.frame[at] == Self::ABSENT {
            p.live += 1;
        }
        p.frame[at] = frame_idx;
    }

    pub(super) fn unset(&mut self, id: u32) {
        let (page, at) = Self::split(id);
        if let Some(Some(p)) = self.pages.get_mut(page)
            && p.frame[at] != Self::ABSENT
        {
            p.frame[at] = Self::ABSENT;
            p.live -= 1;
            if p.live == 0 {
                self.emptied.push(page);
            }
        }
    }

    /// Frees the pages left without a live id.
    pub(super) fn free_empty_pages(&mut self) {
        for page in self.emptied.drain(..) {
            if self.pages[page].as_ref().is_some_and(|p| p.live == 0) {
                self.pages[page] = None;
            }
        }
    }

    #[cfg(test)]
    pub(super) fn pages_held(&self) -> usize {
        self.pages.iter().filter(|p| p.is_some()).count()
    }
}
