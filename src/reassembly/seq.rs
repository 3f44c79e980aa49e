//! Sequence-number arithmetic for a passive observer (RFC 9293 §3.4).
//!
//! Sequence numbers are 32-bit and wrap; "before" and "after" only make sense
//! within half the number space. Every operation here is total: no
//! subtraction can underflow or panic, whatever numbers an attacker picks.

/// Signed distance from `from` to `to` in sequence space: positive when `to`
/// is after `from` (modulo 2^32, within 2^31), negative when before.
pub(crate) fn seq_diff(to: u32, from: u32) -> i32 {
    // Reinterpreting the wrapped difference as i32 is the RFC 9293 §3.4
    // comparison "a < b iff (a - b) mod 2^32 > 2^31".
    to.wrapping_sub(from) as i32
}

/// Sequence number `offset` bytes after `base` (the low 32 bits of the
/// 64-bit stream offset, which is exactly what goes on the wire).
pub(crate) fn seq_at(base: u32, offset: u64) -> u32 {
    base.wrapping_add(offset as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diff_without_wrap() {
        assert_eq!(seq_diff(110, 100), 10);
        assert_eq!(seq_diff(100, 110), -10);
        assert_eq!(seq_diff(7, 7), 0);
    }

    #[test]
    fn diff_across_wrap() {
        assert_eq!(seq_diff(5, u32::MAX - 4), 10);
        assert_eq!(seq_diff(u32::MAX - 4, 5), -10);
    }

    #[test]
    fn diff_at_half_space_never_panics() {
        assert_eq!(seq_diff(1 << 31, 0), i32::MIN);
        assert_eq!(seq_diff(0, 1 << 31), i32::MIN);
        assert_eq!(seq_diff(u32::MAX, 0), -1);
    }

    #[test]
    fn seq_at_wraps() {
        assert_eq!(seq_at(u32::MAX, 1), 0);
        assert_eq!(seq_at(u32::MAX - 1, (1u64 << 32) + 3), 1);
    }
}
