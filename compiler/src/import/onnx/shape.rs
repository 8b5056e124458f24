//! Shape arithmetic of ONNX operators (static shapes): broadcasting, window
//! geometry with `auto_pad`/`pads`/`ceil_mode`, and the index mapping of
//! nearest-neighbour `Resize`. Errors are reasons; the caller names the node.

/// NumPy-style broadcast of two shapes.
pub fn broadcast(a: &[usize], b: &[usize]) -> Result<Vec<usize>, String> {
    let rank = a.len().max(b.len());
    let mut out = vec![0; rank];
    for (i, o) in out.iter_mut().enumerate() {
        let da = if i + a.len() >= rank {
            a[i + a.len() - rank]
        } else {
            1
        };
        let db = if i + b.len() >= rank {
            b[i + b.len() - rank]
        } else {
            1
        };
        *o = match (da, db) {
            (x, y) if x == y => x,
            (1, y) => y,
            (x, 1) => x,
            _ => return Err(format!("shapes {a:?} and {b:?} do not broadcast")),
        };
    }
    Ok(out)
}

/// Normalizes a possibly negative axis against `rank` (`-rank..rank`).
pub fn norm_axis(axis: i64, rank: usize) -> Result<usize, String> {
    let r = rank as i64;
    let a = if axis < 0 { axis + r } else { axis };
    if (0..r).contains(&a) {
        Ok(a as usize)
    } else {
        Err(format!("axis {axis} is out of range for rank {rank}"))
    }
}

/// ONNX `auto_pad` attribute.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AutoPad {
    /// Use the `pads` attribute.
    NotSet,
    /// Pad so that `out = ceil(in / stride)`, odd extra at the end.
    SameUpper,
    /// Same, odd extra at the beginning.
    SameLower,
    /// No padding.
    Valid,
}

impl AutoPad {
    /// Parses the attribute value.
    pub fn parse(s: &str) -> Result<Self, String> {
        match s {
            "" | "NOTSET" => Ok(AutoPad::NotSet),
            "SAME_UPPER" => Ok(AutoPad::SameUpper),
            "SAME_LOWER" => Ok(AutoPad::SameLower),
            "VALID" => Ok(AutoPad::Valid),
            other => Err(format!(
                "auto_pad '{other}' is not one of NOTSET, SAME_UPPER, SAME_LOWER, VALID"
            )),
        }
    }
}

/// Resolved geometry of a 2-D window operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Geometry {
    /// Explicit `[top, left, bottom, right]`, including any `ceil_mode` extension.
    pub pads: [usize; 4],
    /// Output `[h, w]`.
    pub out: [usize; 2],
    /// True when `ceil_mode` added padding beyond the declared pads.
    pub ceil_extended: bool,
}

/// Window parameters as the node states them (all 2-D, `[h, w]`).
#[derive(Clone, Copy, Debug)]
pub struct WindowSpec {
    /// Kernel size.
    pub kernel: [usize; 2],
    /// Strides.
    pub stride: [usize; 2],
    /// Dilations.
    pub dilation: [usize; 2],
    /// `auto_pad`.
    pub auto_pad: AutoPad,
    /// `pads` as `[top, left, bottom, right]` (ONNX order for 2-D).
    pub pads: [usize; 4],
    /// Pooling `ceil_mode`.
    pub ceil_mode: bool,
}

/// Output size and explicit padding of a window over `input` (`[h, w]`).
pub fn window_2d(input: [usize; 2], w: &WindowSpec) -> Result<Geometry, String> {
    let mut pads = [0usize; 4];
    let mut out = [0usize; 2];
    let mut ceil_extended = false;
    for ax in 0..2 {
        let (inp, s, d) = (input[ax], w.stride[ax], w.dilation[ax]);
        if s == 0 || d == 0 || w.kernel[ax] == 0 {
            return Err(format!(
                "kernel {:?}, strides {:?}, dilations {:?} must be >= 1",
                w.kernel, w.stride, w.dilation
            ));
        }
        let eff_k = (w.kernel[ax] - 1) * d + 1;
        let (begin, end) = match w.auto_pad {
            AutoPad::NotSet => (w.pads[ax], w.pads[ax + 2]),
            AutoPad::Valid => (0, 0),
            AutoPad::SameUpper | AutoPad::SameLower => {
                let o = inp.div_ceil(s);
                let total = ((o.max(1) - 1) * s + eff_k).saturating_sub(inp);
                let small = total / 2;
                if w.auto_pad == AutoPad::SameUpper {
                    (small, total - small)
                } else {
                    (total - small, small)
                }
            }
        };
        let padded = inp + begin + end;
        if padded < eff_k {
            return Err(format!(
                "window of {eff_k} (kernel {}, dilation {d}) does not fit input {inp} with pads {begin}+{end}",
                w.kernel[ax]
            ));
        }
        let mut o = (padded - eff_k) / s + 1;
        let mut end = end;
        if w.ceil_mode && w.auto_pad == AutoPad::NotSet {
            let mut oc = (padded - eff_k).div_ceil(s) + 1;
            // The last window must start inside the input or the leading pad.
            if (oc - 1) * s >= inp + begin {
                oc -= 1;
            }
            if oc > o {
                end += (oc - 1) * s + eff_k - padded;
                o = oc;
                ceil_extended = true;
            }
        }
        pads[ax] = begin;
        pads[ax + 2] = end;
        out[ax] = o;
    }
    Ok(Geometry {
        pads,
        out,
        ceil_extended,
    })
}

/// ONNX `Resize` coordinate transformation modes kiln maps to TFLite semantics.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CoordMode {
    /// `(x + 0.5) / scale - 0.5`.
    HalfPixel,
    /// Like half_pixel, but 0 when the output length is 1.
    PytorchHalfPixel,
    /// `x / scale`.
    Asymmetric,
    /// `(x + 0.5) / scale`.
    TfHalfPixelForNn,
    /// `x * (in - 1) / (out - 1)`.
    AlignCorners,
}

impl CoordMode {
    /// Parses `coordinate_transformation_mode`.
    pub fn parse(s: &str) -> Result<Self, String> {
        match s {
            "" | "half_pixel" => Ok(CoordMode::HalfPixel),
            "pytorch_half_pixel" => Ok(CoordMode::PytorchHalfPixel),
            "asymmetric" => Ok(CoordMode::Asymmetric),
            "tf_half_pixel_for_nn" => Ok(CoordMode::TfHalfPixelForNn),
            "align_corners" => Ok(CoordMode::AlignCorners),
            other => Err(format!(
                "coordinate_transformation_mode '{other}' is not supported"
            )),
        }
    }
}

/// ONNX `Resize` `nearest_mode`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NearestMode {
    /// Round, halves down.
    RoundPreferFloor,
    /// Round, halves up.
    RoundPreferCeil,
    /// floor.
    Floor,
    /// ceil.
    Ceil,
}

impl NearestMode {
    /// Parses `nearest_mode`.
    pub fn parse(s: &str) -> Result<Self, String> {
        match s {
            "" | "round_prefer_floor" => Ok(NearestMode::RoundPreferFloor),
            "round_prefer_ceil" => Ok(NearestMode::RoundPreferCeil),
            "floor" => Ok(NearestMode::Floor),
            "ceil" => Ok(NearestMode::Ceil),
            other => Err(format!("nearest_mode '{other}' is not supported")),
        }
    }
}

/// Source index of every output position of ONNX nearest `Resize` along one
/// axis (`scale` = output / input, as the operator defines it), in f32 as ONNX
/// Runtime computes it.
pub fn onnx_nearest_map(
    inp: usize,
    out: usize,
    scale: f32,
    cm: CoordMode,
    nm: NearestMode,
) -> impl Iterator<Item = usize> {
    (0..out).map(move |x| {
        let xf = x as f32;
        let orig = match cm {
            CoordMode::HalfPixel => (xf + 0.5) / scale - 0.5,
            CoordMode::PytorchHalfPixel if out > 1 => (xf + 0.5) / scale - 0.5,
            CoordMode::PytorchHalfPixel => 0.0,
            CoordMode::Asymmetric => xf / scale,
            CoordMode::TfHalfPixelForNn => (xf + 0.5) / scale,
            CoordMode::AlignCorners if out == 1 => 0.0,
            CoordMode::AlignCorners => xf * (inp as f32 - 1.0) / (out as f32 - 1.0),
        };
        let r = match nm {
            NearestMode::RoundPreferFloor if orig == orig.floor() + 0.5 => orig.floor(),
            NearestMode::RoundPreferFloor | NearestMode::RoundPreferCeil => orig.round(),
            NearestMode::Floor => orig.floor(),
            NearestMode::Ceil => orig.ceil(),
        };
        (r.max(0.0) as usize).min(inp.saturating_sub(1))
    })
}

/// Source index of every output position of TFLite `RESIZE_NEAREST_NEIGHBOR`
/// (reference kernel semantics, f32 arithmetic).
pub fn tflite_nearest_map(
    inp: usize,
    out: usize,
    align_corners: bool,
    half_pixel: bool,
) -> impl Iterator<Item = usize> {
    let scale = if align_corners && out > 1 {
        (inp as f32 - 1.0) / (out as f32 - 1.0)
    } else {
        inp as f32 / out as f32
    };
    let offset = if half_pixel { 0.5 } else { 0.0 };
    (0..out).map(move |x| {
        let v = (x as f32 + offset) * scale;
        let v = if align_corners { v.round() } else { v.floor() };
        (v.max(0.0) as usize).min(inp.saturating_sub(1))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(
        k: usize,
        s: usize,
        auto_pad: AutoPad,
        pads: [usize; 4],
        ceil_mode: bool,
    ) -> WindowSpec {
        WindowSpec {
            kernel: [k, k],
            stride: [s, s],
            dilation: [1, 1],
            auto_pad,
            pads,
            ceil_mode,
        }
    }

    #[test]
    fn broadcasting() {
        assert_eq!(
            broadcast(&[1, 8, 4, 4], &[8, 1, 1]).unwrap(),
            vec![1, 8, 4, 4]
        );
        assert_eq!(broadcast(&[], &[3]).unwrap(), vec![3]);
        assert_eq!(broadcast(&[2, 1], &[1, 5]).unwrap(), vec![2, 5]);
        assert!(broadcast(&[2, 3], &[4]).is_err());
    }

    #[test]
    fn axes() {
        assert_eq!(norm_axis(-1, 4).unwrap(), 3);
        assert_eq!(norm_axis(1, 4).unwrap(), 1);
        assert!(norm_axis(4, 4).is_err());
        assert!(norm_axis(-5, 4).is_err());
    }

    #[test]
    fn explicit_pads_conv() {
        // kws first conv: 49x10 input, kernel 10x4, stride 2, pads [4,1,5,1] -> 25x5.
        let w = WindowSpec {
            kernel: [10, 4],
            stride: [2, 2],
            dilation: [1, 1],
            auto_pad: AutoPad::NotSet,
            pads: [4, 1, 5, 1],
            ceil_mode: false,
        };
        let g = window_2d([49, 10], &w).unwrap();
        assert_eq!(g.out, [25, 5]);
        assert_eq!(g.pads, [4, 1, 5, 1]);
    }

    #[test]
    fn same_upper_puts_odd_pad_at_end() {
        // in 4, k 3, s 2: out 2, total pad (2-1)*2+3-4 = 1 -> begin 0, end 1.
        let g = window_2d([4, 4], &spec(3, 2, AutoPad::SameUpper, [0; 4], false)).unwrap();
        assert_eq!(g.out, [2, 2]);
        assert_eq!(g.pads, [0, 0, 1, 1]);
        let g = window_2d([4, 4], &spec(3, 2, AutoPad::SameLower, [0; 4], false)).unwrap();
        assert_eq!(g.pads, [1, 1, 0, 0]);
        let g = window_2d([5, 5], &spec(3, 1, AutoPad::SameUpper, [0; 4], false)).unwrap();
        assert_eq!((g.out, g.pads), ([5, 5], [1, 1, 1, 1]));
        let g = window_2d([5, 5], &spec(3, 1, AutoPad::Valid, [9; 4], false)).unwrap();
        assert_eq!((g.out, g.pads), ([3, 3], [0; 4]));
    }

    #[test]
    fn dilation_widens_the_window() {
        let mut w = spec(3, 1, AutoPad::NotSet, [0; 4], false);
        w.dilation = [2, 2];
        assert_eq!(window_2d([7, 7], &w).unwrap().out, [3, 3]);
    }

    #[test]
    fn ceil_mode_extends_the_end() {
        // in 5, k 2, s 2: floor -> 2, ceil -> 3 with one extra row/col at the end.
        let g = window_2d([5, 5], &spec(2, 2, AutoPad::NotSet, [0; 4], true)).unwrap();
        assert_eq!(
            (g.out, g.pads, g.ceil_extended),
            ([3, 3], [0, 0, 1, 1], true)
        );
        let g = window_2d([4, 4], &spec(2, 2, AutoPad::NotSet, [0; 4], true)).unwrap();
        assert_eq!((g.out, g.ceil_extended), ([2, 2], false));
        // in 4, k 3, s 2, pads 1: ceil((6-3)/2)+1 = 3, the last window starts at 4 < 4+1: kept.
        let g = window_2d([4, 4], &spec(3, 2, AutoPad::NotSet, [1; 4], true)).unwrap();
        assert_eq!((g.out, g.pads), ([3, 3], [1, 1, 2, 2]));
        // in 3, k 1, s 2, end pad 1: ceil gives 3, but that window starts at 4 >= 3 (in the pad): dropped.
        let g = window_2d([3, 3], &spec(1, 2, AutoPad::NotSet, [0, 0, 1, 1], true)).unwrap();
        assert_eq!((g.out, g.ceil_extended), ([2, 2], false));
    }

    #[test]
    fn window_larger_than_input_is_an_error() {
        assert!(window_2d([2, 2], &spec(3, 1, AutoPad::NotSet, [0; 4], false)).is_err());
        assert!(window_2d([2, 2], &spec(0, 1, AutoPad::NotSet, [0; 4], false)).is_err());
    }

    #[test]
    fn resize_modes_match_tflite() {
        // 2x upsample, asymmetric + floor == TFLite (false, false): 0,0,1,1,...
        let onnx = onnx_nearest_map(4, 8, 2.0, CoordMode::Asymmetric, NearestMode::Floor)
            .collect::<Vec<_>>();
        assert_eq!(onnx, vec![0, 0, 1, 1, 2, 2, 3, 3]);
        assert_eq!(
            onnx,
            tflite_nearest_map(4, 8, false, false).collect::<Vec<_>>()
        );
        // half_pixel + round_prefer_floor on an integer upscale == TFLite half_pixel_centers.
        let onnx = onnx_nearest_map(
            4,
            8,
            2.0,
            CoordMode::HalfPixel,
            NearestMode::RoundPreferFloor,
        )
        .collect::<Vec<_>>();
        assert_eq!(
            onnx,
            tflite_nearest_map(4, 8, false, true).collect::<Vec<_>>()
        );
        // 2x downsample with half_pixel + round_prefer_floor picks the even source (ORT), TFLite the odd.
        let onnx = onnx_nearest_map(
            8,
            4,
            0.5,
            CoordMode::HalfPixel,
            NearestMode::RoundPreferFloor,
        )
        .collect::<Vec<_>>();
        assert_eq!(onnx, vec![0, 2, 4, 6]);
        assert_eq!(
            tflite_nearest_map(8, 4, false, true).collect::<Vec<_>>(),
            vec![1, 3, 5, 7]
        );
        assert_eq!(
            tflite_nearest_map(8, 4, false, false).collect::<Vec<_>>(),
            vec![0, 2, 4, 6]
        );
        // align_corners 3 -> 5: x*2/4 rounded: 0,0.5,1,1.5,2 -> TFLite rounds halves away: 0,1,1,2,2.
        assert_eq!(
            tflite_nearest_map(3, 5, true, false).collect::<Vec<_>>(),
            vec![0, 1, 1, 2, 2]
        );
        assert_eq!(
            onnx_nearest_map(
                3,
                5,
                5.0 / 3.0,
                CoordMode::AlignCorners,
                NearestMode::RoundPreferCeil
            )
            .collect::<Vec<_>>(),
            vec![0, 1, 1, 2, 2]
        );
    }
}
