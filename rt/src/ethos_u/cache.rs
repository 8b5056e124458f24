//! Cortex-M data-cache maintenance by address for the NPU's shared memory (ARMv7-M/ARMv8-M
//! System Control Block: `CCR.DC` says whether the D-cache is on; `DCCMVAC` cleans,
//! `DCIMVAC` invalidates and `DCCIMVAC` cleans and invalidates one line by address). Cortex-M7,
//! M55 and M85 have 32-byte lines; on cores without a data cache (M4, M33) `CCR.DC` reads 0 and
//! nothing is done. Everywhere else (the host) these are no-ops.

/// Data cache line size of the Cortex-M cores that have a data cache.
pub const LINE: usize = 32;

#[cfg(target_arch = "arm")]
mod scb {
    /// Configuration and Control Register; bit 16 = data cache enable.
    const CCR: usize = 0xE000_ED14;
    /// D-cache invalidate by address to the point of coherency.
    pub const DCIMVAC: usize = 0xE000_EF5C;
    /// D-cache clean by address to the point of coherency.
    pub const DCCMVAC: usize = 0xE000_EF68;
    /// D-cache clean and invalidate by address to the point of coherency.
    pub const DCCIMVAC: usize = 0xE000_EF70;

    pub fn enabled() -> bool {
        // SAFETY: CCR is an architectural SCB register, readable on every ARMv7-M/ARMv8-M core.
        unsafe { core::ptr::read_volatile(CCR as *const u32) & (1 << 16) != 0 }
    }

    pub fn line_op(reg: usize, addr: usize) {
        // SAFETY: the cache maintenance registers are write-only SCB registers present when
        // CCR.DC can be set (checked by the caller); writing an address only affects the cache.
        unsafe { core::ptr::write_volatile(reg as *mut u32, addr as u32) }
    }

    pub fn barrier() {
        // SAFETY: DSB and ISB only order execution; they touch no memory.
        unsafe { core::arch::asm!("dsb sy", "isb sy", options(nostack, preserves_flags)) }
    }
}

/// Lines of `[addr, addr + len)`.
fn lines(addr: usize, len: usize) -> impl Iterator<Item = usize> {
    let start = addr & !(LINE - 1);
    let end = addr.saturating_add(len);
    (start..end).step_by(LINE)
}

/// Cleans `[addr, addr + len)` from the D-cache (no-op without one).
pub fn clean(addr: usize, len: usize) {
    #[cfg(target_arch = "arm")]
    if len > 0 && scb::enabled() {
        lines(addr, len).for_each(|l| scb::line_op(scb::DCCMVAC, l));
        scb::barrier();
    }
    #[cfg(not(target_arch = "arm"))]
    let _ = lines(addr, len);
}

/// Invalidates `[addr, addr + len)` in the D-cache (no-op without one). A line only partly
/// inside the range is cleaned and invalidated, so data next to the range is never lost.
pub fn invalidate(addr: usize, len: usize) {
    #[cfg(target_arch = "arm")]
    if len > 0 && scb::enabled() {
        let end = addr.saturating_add(len);
        for l in lines(addr, len) {
            let whole = l >= addr && l + LINE <= end;
            scb::line_op(if whole { scb::DCIMVAC } else { scb::DCCIMVAC }, l);
        }
        scb::barrier();
    }
    #[cfg(not(target_arch = "arm"))]
    let _ = lines(addr, len);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_cover_the_range() {
        let v: std::vec::Vec<usize> = lines(0x1010, 0x40).collect();
        assert_eq!(v, [0x1000, 0x1020, 0x1040]);
        assert_eq!(lines(0x1000, 0).count(), 0);
        assert_eq!(lines(0x1000, 32).count(), 1);
    }
}
