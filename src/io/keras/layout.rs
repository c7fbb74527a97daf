//! Keras' channels-last order against somnet's NCHW: the Flatten row permutation.

/// For each feature in C, H, W order, its index in Keras' H, W, C flattening.
pub(super) fn hwc_index_of_chw((h, w, c): (usize, usize, usize)) -> Vec<usize> {
    let mut order = Vec::with_capacity(h * w * c);
    for ch in 0..c {
        for y in 0..h {
            for x in 0..w {
                order.push((y * w + x) * c + ch);
            }
        }
    }
    order
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flatten_order_maps_chw_to_hwc() {
        // 1×2 image with 3 channels: Keras flattens (y, x, c) as x·3 + c.
        assert_eq!(hwc_index_of_chw((1, 2, 3)), vec![0, 3, 1, 4, 2, 5]);
    }
}
