//! Oracle vectors made with Arm's reference weight codec (ethos-u-vela 5.2.0,
//! `ethosu.mlw_codec`); regenerate with the script in this file's comments.
//!
//! # Generates ethos-u/src/weights/oracle.rs with Arm's reference codec.
//! import numpy as np
//! from ethosu import mlw_codec
//!
//! def val(o, y, x, i):
//!     if (o + 2 * y + 3 * x + i) % 5 == 0:
//!         return 0
//!     return (o * 7 + y * 5 + x * 3 + i * 11) % 37 - 18
//!
//! def hexs(b):
//!     return "".join(f"{c:02x}" for c in b)
//!
//! out = []
//! out.append("//! Oracle vectors made with Arm's reference weight codec (ethos-u-vela 5.2.0,\n")
//! out.append("//! `ethosu.mlw_codec`); regenerate with the script in this file's comments.\n")
//! out.append("//!\n")
//! for l in open(__file__).read().splitlines():
//!     out.append("//! " + l + "\n")
//! out.append("\nuse super::WeightOrder;\n\n")
//! vecs = []
//! seqs = [
//!     [1, 2, 3, 0, 0, -5],
//!     [0] * 40 + [255, -255, 1, -1] + [0] * 3,
//!     [((k * 37) % 101) - 50 if k % 3 else 0 for k in range(600)],
//!     [((k * 13) % 9) - 4 for k in range(2000)],
//!     [((k * 97) % 511) - 255 for k in range(300)],
//! ]
//! out.append("pub(super) static VECTORS: &[(&[i16], &str)] = &[\n")
//! for s in seqs:
//!     b = mlw_codec.encode(s)
//!     assert mlw_codec.decode(b) == s
//!     out.append(f"    (&{s!r}, \"{hexs(b)}\"),\n".replace("[", "[").replace("]", "]"))
//! out.append("];\n\n")
//! out.append("pub(super) struct ReorderCase {\n    pub name: &'static str,\n    pub order: WeightOrder,\n    pub value: fn(u32, u32, u32, u32) -> i16,\n    pub hex: &'static str,\n}\n\n")
//! out.append("fn val(o: u32, y: u32, x: u32, i: u32) -> i16 {\n    if (o + 2 * y + 3 * x + i) % 5 == 0 {\n        return 0;\n    }\n    ((o * 7 + y * 5 + x * 3 + i * 11) % 37) as i16 - 18\n}\n\n")
//! cases = [
//!     # name, ifm_ub, ofm_ub, O, H, W, I, blk, dw, pk, bits, dh, dw_
//!     ("depth_first", 8, 8, 20, 3, 3, 12, 16, False, False, 8, 8, 8),
//!     ("depth_first_wide", 8, 8, 8, 1, 1, 70, 8, False, False, 8, 8, 8),
//!     ("part_kernel", 8, 8, 16, 10, 4, 1, 16, False, True, 8, 8, 8),
//!     ("part_kernel_deep", 8, 8, 12, 3, 3, 20, 8, False, True, 8, 8, 8),
//!     ("depthwise", 8, 8, 24, 3, 3, 1, 16, True, False, 8, 8, 8),
//!     ("u55_32", 8, 4, 12, 1, 1, 40, 8, False, False, 8, 8, 8),
//!     ("dilated", 8, 8, 8, 5, 5, 3, 8, False, False, 8, 4, 4),
//!     ("ifm16", 8, 8, 8, 2, 2, 20, 8, False, False, 16, 8, 8),
//! ]
//! out.append("pub(super) static REORDER: &[ReorderCase] = &[\n")
//! for (name, iu, ou, O, H, W, I, blk, dw, pk, bits, dh, dw_) in cases:
//!     w = np.zeros((O, H, W, I), dtype=np.int16)
//!     for o in range(O):
//!         for y in range(H):
//!             for x in range(W):
//!                 for i in range(I):
//!                     w[o, y, x, i] = val(o, y, x, i)
//!     b, n = mlw_codec.reorder_encode(iu, ou, w, blk, dw, pk, bits, dh, dw_)
//!     out.append(f"""    ReorderCase {{
//!         name: "{name}",
//!         order: WeightOrder {{
//!             ifm_ublock_depth: {iu},
//!             ofm_ublock_depth: {ou},
//!             ofm_depth: {O},
//!             kernel_height: {H},
//!             kernel_width: {W},
//!             ifm_depth: {I},
//!             ofm_block_depth: {blk},
//!             depthwise: {str(dw).lower()},
//!             part_kernel: {str(pk).lower()},
//!             ifm_bits: {bits},
//!             decomp_h: {dh},
//!             decomp_w: {dw_},
//!         }},
//!         value: val,
//!         hex: "{hexs(b)}",
//!     }},
//! """)
//!     print(name, n, len(b))
//! out.append("];\n")
//! open("/work/main/ethos-u/src/weights/oracle.rs", "w").write("".join(out))

use super::WeightOrder;

pub(super) static VECTORS: &[(&[i16], &str)] = &[
    (&[1, 2, 3, 0, 0, -5], "2e006440046b240710f1ffffffffffff"),
    (&[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 255, -255, 1, -1, 0, 0, 0], "13005c31fedfff00011f0031000000700ec0ffffffffffffffffffffffffffff"),
    (&[0, -13, 24, 0, -3, 34, 0, 7, 44, 0, 17, -47, 0, 27, -37, 0, 37, -27, 0, 47, -17, 0, -44, -7, 0, -34, 3, 0, -24, 13, 0, -14, 23, 0, -4, 33, 0, 6, 43, 0, 16, -48, 0, 26, -38, 0, 36, -28, 0, 46, -18, 0, -45, -8, 0, -35, 2, 0, -25, 12, 0, -15, 22, 0, -5, 32, 0, 5, 42, 0, 15, -49, 0, 25, -39, 0, 35, -29, 0, 45, -19, 0, -46, -9, 0, -36, 1, 0, -26, 11, 0, -16, 21, 0, -6, 31, 0, 4, 41, 0, 14, -50, 0, 24, -40, 0, 34, -30, 0, 44, -20, 0, -47, -10, 0, -37, 0, 0, -27, 10, 0, -17, 20, 0, -7, 30, 0, 3, 40, 0, 13, 50, 0, 23, -41, 0, 33, -31, 0, 43, -21, 0, -48, -11, 0, -38, -1, 0, -28, 9, 0, -18, 19, 0, -8, 29, 0, 2, 39, 0, 12, 49, 0, 22, -42, 0, 32, -32, 0, 42, -22, 0, -49, -12, 0, -39, -2, 0, -29, 8, 0, -19, 18, 0, -9, 28, 0, 1, 38, 0, 11, 48, 0, 21, -43, 0, 31, -33, 0, 41, -23, 0, -50, -13, 0, -40, -3, 0, -30, 7, 0, -20, 17, 0, -10, 27, 0, 0, 37, 0, 10, 47, 0, 20, -44, 0, 30, -34, 0, 40, -24, 0, 50, -14, 0, -41, -4, 0, -31, 6, 0, -21, 16, 0, -11, 26, 0, -1, 36, 0, 9, 46, 0, 19, -45, 0, 29, -35, 0, 39, -25, 0, 49, -15, 0, -42, -5, 0, -32, 5, 0, -22, 15, 0, -12, 25, 0, -2, 35, 0, 8, 45, 0, 18, -46, 0, 28, -36, 0, 38, -26, 0, 48, -16, 0, -43, -6, 0, -33, 4, 0, -23, 14, 0, -13, 24, 0, -3, 34, 0, 7, 44, 0, 17, -47, 0, 27, -37, 0, 37, -27, 0, 47, -17, 0, -44, -7, 0, -34, 3, 0, -24, 13, 0, -14, 23, 0, -4, 33, 0, 6, 43, 0, 16, -48, 0, 26, -38, 0, 36, -28, 0, 46, -18, 0, -45, -8, 0, -35, 2, 0, -25, 12, 0, -15, 22, 0, -5, 32, 0, 5, 42, 0, 15, -49, 0, 25, -39, 0, 35, -29, 0, 45, -19, 0, -46, -9, 0, -36, 1, 0, -26, 11, 0, -16, 21, 0, -6, 31, 0, 4, 41, 0, 14, -50, 0, 24, -40, 0, 34, -30, 0, 44, -20, 0, -47, -10, 0, -37, 0, 0, -27, 10, 0, -17, 20, 0, -7, 30, 0, 3, 40, 0, 13, 50, 0, 23, -41, 0, 33, -31, 0, 43, -21, 0, -48, -11, 0, -38, -1, 0, -28, 9, 0, -18, 19, 0, -8, 29, 0, 2, 39, 0, 12, 49, 0, 22, -42, 0, 32, -32, 0, 42, -22, 0, -49, -12, 0, -39, -2, 0, -29, 8, 0, -19, 18, 0, -9, 28, 0, 1, 38, 0, 11, 48, 0, 21, -43, 0, 31, -33, 0, 41, -23, 0, -50, -13, 0, -40, -3, 0, -30, 7, 0, -20, 17, 0, -10, 27, 0, 0, 37, 0, 10, 47, 0, 20, -44, 0, 30, -34, 0, 40, -24, 0, 50, -14, 0, -41, -4, 0, -31, 6, 0, -21, 16, 0, -11, 26, 0, -1, 36, 0, 9, 46, 0, 19, -45, 0, 29, -35, 0, 39, -25, 0, 49, -15, 0, -42, -5, 0, -32, 5, 0, -22, 15, 0, -12, 25, 0, -2, 35, 0, 8, 45, 0, 18, -46, 0, 28, -36, 0, 38, -26, 0, 48, -16, 0, -43, -6], "580c5c019a2449927115840c2ba89b24b424b2c60d5d1b493224bc301bd60198240aaae72b5b1a6f49a21d651f4541cc92241d55c2879072c249026b1273d8d236922447c08cf2412d784963806ac6aea7709724d6537792ac494249626ae8084e8c98952451608f9afa56964912b84146a4074e90244c0b5835f5fda449b20a5f9a839ca39424a2880da0a478514952e505a1ad71e6b924851de3049ad0904922e19aaebaa1f39524e24df4d053a43c495291058c102d299b24b8223306ee4c1349f243ac3817d88098240eac686b3b2a6749e2fd541741434b9324195741c8b082ba49424b226bdcd0b5912443c20bb3611d8049a2a07abeb2a5f19624da51f65114c42c49d251257c0829279c24b02631872d6d23497204cc281fd48297a406a866ec7a0a7749623d7527c99a249424a6868ee0c48859491205f6a8a96f659924811b64447ae00449c2b4805553df4f9a24abf0a539c8394a49228ad8004a8a179524555e10da1a679e5952d8314ea0090d992412aee9aa1b3a5f4922de440f3d45ca93241559c008d192b249822b3263e0ce3491243fc48a73810d8849e2c08ab6b6a3720600de4f75f1ffffffff"),
    (&[-4, 0, 4, -1, 3, -2, 2, -3, 1, -4, 0, 4, -1, 3, -2, 2, -3, 1, -4, 0, 4, -1, 3, -2, 2, -3, 1, -4, 0, 4, -1, 3, -2, 2, -3, 1, -4, 0, 4, -1, 3, -2, 2, -3, 1, -4, 0, 4, -1, 3, -2, 2, -3, 1, -4, 0, 4, -1, 3, -2, 2, -3, 1, -4, 0, 4, -1, 3, -2, 2, -3, 1, -4, 0, 4, -1, 3, -2, 2, -3, 1, -4, 0, 4, -1, 3, -2, 2, -3, 1, -4, 0, 4, -1, 3, -2, 2, -3, 1, -4, 0, 4, -1, 3, -2, 2, -3, 1, -4, 0, 4, -1, 3, -2, 2, -3, 1, -4, 0, 4, -1, 3, -2, 2, -3, 1, -4, 0, 4, -1, 3, -2, 2, -3, 1, -4, 0, 4, -1, 3, -2, 2, -3, 1, -4, 0, 4, -1, 3, -2, 2, -3, 1, -4, 0, 4, -1, 3, -2, 2, -3, 1, -4, 0, 4, -1, 3, -2, 2, -3, 1, -4, 0, 4, -1, 3, -2, 2, -3, 1, -4, 0, 4, -1, 3, -2, 2, -3, 1, -4, 0, 4, -1, 3, -2, 2, -3, 1, -4, 0, 4, -1, 3, -2, 2, -3, 1, -4, 0, 4, -1, 3, -2, 2, -3, 1, -4, 0, 4, -1, 3, -2, 2, -3, 1, -4, 0, 4, -1, 3, -2, 2, -3, 1, -4, 0, 4, -1, 3, -2, 2, -3, 1, -4, 0, 4, -1, 3, -2, 2, -3, 1, -4, 0, 4, -1, 3, -2, 2, -3, 1, -4, 0, 4, -1, 3, -2, 2, -3, 1, -4, 0, 4, -1, 3, -2, 2, -3, 1, -4, 0, 4, -1, 3, -2, 2, -3, 1, -4, 0, 4, -1, 3, -2, 2, -3, 1, -4, 0, 4, -1, 3, -2, 2, -3, 1, -4, 0, 4, -1, 3, -2, 2, -3, 1, -4, 0, 4, -1, 3, -2, 2, -3, 1, -4, 0, 4, -1, 3, -2, 2, -3, 1, -4, 0, 4, -1, 3, -2, 2, -3, 1, -4, 0, 4, -1, 3, -2, 2, -3, 1, -4, 0, 4, -1, 3, -2, 2, -3, 1, -4, 0, 4, -1, 3, -2, 2, -3, 1, -4, 0, 4, -1, 3, -2, 2, -3, 1, -4, 0, 4, -1, 3, -2, 2, -3, 1, -4, 0, 4, -1, 3, -2, 2, -3, 1, -4, 0, 4, -1, 3, -2, 2, -3, 1, -4, 0, 4, -1, 3, -2, 2, -3, 1, -4, 0, 4, -1, 3, -2, 2, -3, 1, -4, 0, 4, -1, 3, -2, 2, -3, 1, -4, 0, 4, -1, 3, -2, 2, -3, 1, -4, 0, 4, -1, 3, -2, 2, -3, 1, -4, 0, 4, -1, 3, -2, 2, -3, 1, -4, 0, 4, -1, 3, -2, 2, -3, 1, -4, 0, 4, -1, 3, -2, 2, -3, 1, -4, 0, 4, -1, 3, -2, 2, -3, 1, -4, 0, 4, -1, 3, -2, 2, -3, 1, -4, 0, 4, -1, 3, -2, 2, -3, 1, -4, 0, 4, -1, 3, -2, 2, -3, 1, -4, 0, 4, -1, 3, -2, 2, -3, 1, -4, 0, 4, -1, 3, -2, 2, -3, 1, -4, 0, 4, -1, 3, -2, 2, -3, 1, -4, 0, 4, -1, 3, -2, 2, -3, 1, -4, 0, 4, -1, 3, -2, 2, -3, 1, -4, 0, 4, -1, 3, -2, 2, -3, 1, -4, 0, 4, -1, 3, -2, 2, -3, 1, -4, 0, 4, -1, 3, -2, 2, -3, 1, -4, 0, 4, -1, 3, -2, 2, -3, 1, -4, 0, 4, -1, 3, -2, 2, -3, 1, -4, 0, 4, -1, 3, -2, 2, -3, 1, -4, 0, 4, -1, 3, -2, 2, -3, 1, -4, 0, 4, -1, 3, -2, 2, -3, 1, -4, 0, 4, -1, 3, -2, 2, -3, 1, -4, 0, 4, -1, 3, -2, 2, -3, 1, -4, 0, 4, -1, 3, -2, 2, -3, 1, -4, 0, 4, -1, 3, -2, 2, -3, 1, -4, 0, 4, -1, 3, -2, 2, -3, 1, -4, 0, 4, -1, 3, -2, 2, -3, 1, -4, 0, 4, -1, 3, -2, 2, -3, 1, -4, 0, 4, -1, 3, -2, 2, -3, 1, -4, 0, 4, -1, 3, -2, 2, -3, 1, -4, 0, 4, -1, 3, -2, 2, -3, 1, -4, 0, 4, -1, 3, -2, 2, -3, 1, -4, 0, 4, -1, 3, -2, 2, -3, 1, -4, 0, 4, -1, 3, -2, 2, -3, 1, -4, 0, 4, -1, 3, -2, 2, -3, 1, -4, 0, 4, -1, 3, -2, 2, -3, 1, -4, 0, 4, -1, 3, -2, 2, -3, 1, -4, 0, 4, -1, 3, -2, 2, -3, 1, -4, 0, 4, -1, 3, -2, 2, -3, 1, -4, 0, 4, -1, 3, -2, 2, -3, 1, -4, 0, 4, -1, 3, -2, 2, -3, 1, -4, 0, 4, -1, 3, -2, 2, -3, 1, -4, 0, 4, -1, 3, -2, 2, -3, 1, -4, 0, 4, -1, 3, -2, 2, -3, 1, -4, 0, 4, -1, 3, -2, 2, -3, 1, -4, 0, 4, -1, 3, -2, 2, -3, 1, -4, 0, 4, -1, 3, -2, 2, -3, 1, -4, 0, 4, -1, 3, -2, 2, -3, 1, -4, 0, 4, -1, 3, -2, 2, -3, 1, -4, 0, 4, -1, 3, -2, 2, -3, 1, -4, 0, 4, -1, 3, -2, 2, -3, 1, -4, 0, 4, -1, 3, -2, 2, -3, 1, -4, 0, 4, -1, 3, -2, 2, -3, 1, -4, 0, 4, -1, 3, -2, 2, -3, 1, -4, 0, 4, -1, 3, -2, 2, -3, 1, -4, 0, 4, -1, 3, -2, 2, -3, 1, -4, 0, 4, -1, 3, -2, 2, -3, 1, -4, 0, 4, -1, 3, -2, 2, -3, 1, -4, 0, 4, -1, 3, -2, 2, -3, 1, -4, 0, 4, -1, 3, -2, 2, -3, 1, -4, 0, 4, -1, 3, -2, 2, -3, 1, -4, 0, 4, -1, 3, -2, 2, -3, 1, -4, 0, 4, -1, 3, -2, 2, -3, 1, -4, 0, 4, -1, 3, -2, 2, -3, 1, -4, 0, 4, -1, 3, -2, 2, -3, 1, -4, 0, 4, -1, 3, -2, 2, -3, 1, -4, 0, 4, -1, 3, -2, 2, -3, 1, -4, 0, 4, -1, 3, -2, 2, -3, 1, -4, 0, 4, -1, 3, -2, 2, -3, 1, -4, 0, 4, -1, 3, -2, 2, -3, 1, -4, 0, 4, -1, 3, -2, 2, -3, 1, -4, 0, 4, -1, 3, -2, 2, -3, 1, -4, 0, 4, -1, 3, -2, 2, -3, 1, -4, 0, 4, -1, 3, -2, 2, -3, 1, -4, 0, 4, -1, 3, -2, 2, -3, 1, -4, 0, 4, -1, 3, -2, 2, -3, 1, -4, 0, 4, -1, 3, -2, 2, -3, 1, -4, 0, 4, -1, 3, -2, 2, -3, 1, -4, 0, 4, -1, 3, -2, 2, -3, 1, -4, 0, 4, -1, 3, -2, 2, -3, 1, -4, 0, 4, -1, 3, -2, 2, -3, 1, -4, 0, 4, -1, 3, -2, 2, -3, 1, -4, 0, 4, -1, 3, -2, 2, -3, 1, -4, 0, 4, -1, 3, -2, 2, -3, 1, -4, 0, 4, -1, 3, -2, 2, -3, 1, -4, 0, 4, -1, 3, -2, 2, -3, 1, -4, 0, 4, -1, 3, -2, 2, -3, 1, -4, 0, 4, -1, 3, -2, 2, -3, 1, -4, 0, 4, -1, 3, -2, 2, -3, 1, -4, 0, 4, -1, 3, -2, 2, -3, 1, -4, 0, 4, -1, 3, -2, 2, -3, 1, -4, 0, 4, -1, 3, -2, 2, -3, 1, -4, 0, 4, -1, 3, -2, 2, -3, 1, -4, 0, 4, -1, 3, -2, 2, -3, 1, -4, 0, 4, -1, 3, -2, 2, -3, 1, -4, 0, 4, -1, 3, -2, 2, -3, 1, -4, 0, 4, -1, 3, -2, 2, -3, 1, -4, 0, 4, -1, 3, -2, 2, -3, 1, -4, 0, 4, -1, 3, -2, 2, -3, 1, -4, 0, 4, -1, 3, -2, 2, -3, 1, -4, 0, 4, -1, 3, -2, 2, -3, 1, -4, 0, 4, -1, 3, -2, 2, -3, 1, -4, 0, 4, -1, 3, -2, 2, -3, 1, -4, 0, 4, -1, 3, -2, 2, -3, 1, -4, 0, 4, -1, 3, -2, 2, -3, 1, -4, 0, 4, -1, 3, -2, 2, -3, 1, -4, 0, 4, -1, 3, -2, 2, -3, 1, -4, 0, 4, -1, 3, -2, 2, -3, 1, -4, 0, 4, -1, 3, -2, 2, -3, 1, -4, 0, 4, -1, 3, -2, 2, -3, 1, -4, 0, 4, -1, 3, -2, 2, -3, 1, -4, 0, 4, -1, 3, -2, 2, -3, 1, -4, 0, 4, -1, 3, -2, 2, -3, 1, -4, 0, 4, -1, 3, -2, 2, -3, 1, -4, 0, 4, -1, 3, -2, 2, -3, 1, -4, 0, 4, -1, 3, -2, 2, -3, 1, -4, 0, 4, -1, 3, -2, 2, -3, 1, -4, 0, 4, -1, 3, -2, 2, -3, 1, -4, 0, 4, -1, 3, -2, 2, -3, 1, -4, 0, 4, -1, 3, -2, 2, -3, 1, -4, 0, 4, -1, 3, -2, 2, -3, 1, -4, 0, 4, -1, 3, -2, 2, -3, 1, -4, 0, 4, -1, 3, -2, 2, -3, 1, -4, 0, 4, -1, 3, -2, 2, -3, 1, -4, 0, 4, -1, 3, -2, 2, -3, 1, -4, 0, 4, -1, 3, -2, 2, -3, 1, -4, 0, 4, -1, 3, -2, 2, -3, 1, -4, 0, 4, -1, 3, -2, 2, -3, 1, -4, 0, 4, -1, 3, -2, 2, -3, 1, -4, 0, 4, -1, 3, -2, 2, -3, 1, -4, 0, 4, -1, 3, -2, 2, -3, 1, -4, 0, 4, -1, 3, -2, 2, -3, 1, -4, 0, 4, -1, 3, -2, 2, -3, 1, -4, 0, 4, -1, 3, -2, 2, -3, 1, -4, 0, 4, -1, 3, -2, 2, -3, 1, -4, 0, 4, -1, 3, -2, 2, -3, 1, -4, 0, 4, -1, 3, -2, 2, -3, 1, -4, 0, 4, -1, 3, -2, 2, -3, 1, -4, 0, 4, -1, 3, -2, 2, -3, 1, -4, 0, 4, -1, 3, -2, 2, -3, 1, -4, 0, 4, -1, 3, -2, 2, -3, 1, -4, 0, 4, -1, 3, -2, 2, -3, 1, -4, 0, 4, -1, 3, -2, 2, -3, 1, -4, 0, 4, -1, 3, -2, 2, -3, 1, -4, 0, 4, -1, 3, -2, 2, -3, 1, -4, 0, 4, -1, 3, -2, 2, -3, 1, -4, 0, 4, -1, 3, -2, 2, -3, 1, -4, 0, 4, -1, 3, -2, 2, -3, 1, -4, 0, 4, -1, 3, -2, 2, -3, 1, -4, 0, 4, -1, 3, -2, 2, -3, 1, -4, 0, 4, -1, 3, -2, 2, -3, 1, -4, 0, 4, -1, 3, -2, 2, -3, 1, -4, 0, 4, -1, 3, -2, 2, -3, 1, -4, 0, 4, -1, 3, -2, 2, -3, 1, -4, 0, 4, -1, 3, -2, 2, -3, 1, -4, 0, 4, -1, 3, -2, 2, -3, 1, -4, 0, 4, -1, 3, -2, 2, -3, 1, -4, 0, 4, -1, 3, -2, 2, -3, 1, -4, 0, 4, -1, 3, -2, 2, -3, 1, -4, 0, 4, -1, 3, -2, 2, -3, 1, -4, 0, 4, -1, 3, -2, 2, -3, 1, -4, 0, 4, -1, 3, -2, 2, -3, 1, -4, 0, 4, -1, 3, -2, 2, -3, 1, -4, 0, 4, -1, 3, -2, 2, -3, 1, -4, 0, 4, -1, 3, -2, 2, -3, 1, -4, 0, 4, -1, 3, -2, 2, -3, 1, -4, 0, 4, -1, 3, -2, 2, -3, 1, -4, 0, 4, -1, 3, -2, 2, -3, 1, -4, 0, 4, -1, 3, -2, 2, -3, 1, -4, 0, 4, -1, 3, -2, 2, -3, 1, -4, 0, 4, -1, 3, -2, 2, -3, 1, -4, 0, 4, -1, 3, -2, 2, -3, 1, -4, 0, 4, -1, 3, -2, 2, -3, 1, -4, 0], "7e3e6880948067452378015f1c829c1cb2788593434e78011d72725e1c829c1cb2788593434e78011d72725e1c829c1cb2788593434e78011d72725e1c829c1cb2788593434e78011d72725e1c829c1cb2788593434e78011d72725e1c829c1cb2788593434e78011d72725e1c829c1cb2788593434e78011d72725e1c829c1cb2788593434e78011d72725e1c829c1cb2788593434e78011d72725e1c829c1cb2788593434e78011d72725e1c829c1cb2788593434e78011d72725e1c829c1cb2788593434e78011d72725e1c829c1cb2788593434e78011d72725e1c829c1cb2788593434e78011d72725e1c829c1cb2788593434e78011d72725e1c829c1cb2788593434e78011d72725e1c829c1cb2788593434e78011d72725e1c829c1cb2788593434e78011d72725e1c829c1cb2788593434e78011d72725e1c829c1cb2788593434e78011d72725e1c829c1cb2788593434e78011d72725e1c829c1cb2788593434e78011d72725e1c829c1cb2788593434e78011d72725e1c829c1cb2788593434e78011d72725e1c829c1cb2788593434e78011d72725e1c829c1cb2788593434e78011d72725e1c829c1cb2788593434e78011d72725e1c829c1cb2788593434e78011d72725e1c829c1cb2788593434e78011d72725e1c829c1cb2788593434e78011d72725e1c829c1cb2788593434e78011d72725e1c829c1cb2788593434e78011d72725e1c829c1cb2788593434e78011d72725e1c829c1cb2788593434e78011d72725e1c829c1cb2788593434e78011d72725e1c829c1cb2788593434e78011d72725e1c829c1cb2788593434e78011d72725e1c829c1cb2788593434e78011d72725e1c829c1cb2788593434e78011d72725e1c829c1cb2788593434e78011d72725e1c829c1cb2788593434e78011d72725e1c829c1cb2788593434e78011d72725e1c829c1cb2788593434e78011d72725e1c829c1cb2788593434e78011d72725e1c829c1cb2788593434e78011d72725e1c829c1cb2788593434e78011d72725e1c829c1cb2788593434e78011d72725e1c829c1cb2788593434e78011d72725e1c829c1cb2788593434e78011d72725e1c829c1cb2788593434e78011d72725e1c829c1cb2788593434e78011d72725e1c829c1cb2788593434e78011d72725e1c829c1cb2788593434e78011d72725e1c829c1cb2788593434e78011d72725e1c829c1cb2788593434e78011d72725e009293434e0efdffffffffffffffffffffffffff"),
    (&[-255, -158, -61, 36, 133, 230, -184, -87, 10, 107, 204, -210, -113, -16, 81, 178, -236, -139, -42, 55, 152, 249, -165, -68, 29, 126, 223, -191, -94, 3, 100, 197, -217, -120, -23, 74, 171, -243, -146, -49, 48, 145, 242, -172, -75, 22, 119, 216, -198, -101, -4, 93, 190, -224, -127, -30, 67, 164, -250, -153, -56, 41, 138, 235, -179, -82, 15, 112, 209, -205, -108, -11, 86, 183, -231, -134, -37, 60, 157, 254, -160, -63, 34, 131, 228, -186, -89, 8, 105, 202, -212, -115, -18, 79, 176, -238, -141, -44, 53, 150, 247, -167, -70, 27, 124, 221, -193, -96, 1, 98, 195, -219, -122, -25, 72, 169, -245, -148, -51, 46, 143, 240, -174, -77, 20, 117, 214, -200, -103, -6, 91, 188, -226, -129, -32, 65, 162, -252, -155, -58, 39, 136, 233, -181, -84, 13, 110, 207, -207, -110, -13, 84, 181, -233, -136, -39, 58, 155, 252, -162, -65, 32, 129, 226, -188, -91, 6, 103, 200, -214, -117, -20, 77, 174, -240, -143, -46, 51, 148, 245, -169, -72, 25, 122, 219, -195, -98, -1, 96, 193, -221, -124, -27, 70, 167, -247, -150, -53, 44, 141, 238, -176, -79, 18, 115, 212, -202, -105, -8, 89, 186, -228, -131, -34, 63, 160, -254, -157, -60, 37, 134, 231, -183, -86, 11, 108, 205, -209, -112, -15, 82, 179, -235, -138, -41, 56, 153, 250, -164, -67, 30, 127, 224, -190, -93, 4, 101, 198, -216, -119, -22, 75, 172, -242, -145, -48, 49, 146, 243, -171, -74, 23, 120, 217, -197, -100, -3, 94, 191, -223, -126, -29, 68, 165, -249, -152, -55, 42, 139, 236, -178, -81, 16, 113, 210, -204, -107, -10, 87, 184, -230, -133, -36, 61, 158, 255, -159, -62, 35, 132], "5e095c01de7f671e230895bf6d25819ae5d1e13e80127bbde214362ee1273d84431fefbebb0818431cfb5d0b4954cb8f0ce305a4f8ab9554b073bd38d9015c7a7ff7db41c8e8fc986fa048a45e7614076fa0335faba08a6df38549ece0d4ffb38f1082c6e7c672004df2e972233879dd9ef10a1a95ec9b2ea2610f77e05f008411ae3d2f8623a8e94f96d1c2d1fbd64c26d0a97edc6c012dbbc303fe0024f47ecd394c1c424f7b0a8336ce9db765308536fac3267268da1f1ac80740e1776b2960e67875ba1398b47eefb8858c49f4511fc19047bbf0b000be00e7be574311d3f62bd358c1a8fd6b2711e44c4f8ef60096dce30587f0f1b93fe71d240a99b75d45c11ae6d0df3a88225b7d62143730e51f2da4839fefbdb90c2053fcbadd0a4a56c787fc024624f9aa9358b8839df858015d7c7befcb610869fc976da450b43e36940770a22f579bc0caedf28447f0e8e4df730f1183ffffffffffffffffffff"),
];

pub(super) struct ReorderCase {
    pub name: &'static str,
    pub order: WeightOrder,
    pub value: fn(u32, u32, u32, u32) -> i16,
    pub hex: &'static str,
}

fn val(o: u32, y: u32, x: u32, i: u32) -> i16 {
    if (o + 2 * y + 3 * x + i) % 5 == 0 {
        return 0;
    }
    ((o * 7 + y * 5 + x * 3 + i * 11) % 37) as i16 - 18
}

pub(super) static REORDER: &[ReorderCase] = &[
    ReorderCase {
        name: "depth_first",
        order: WeightOrder {
            ifm_ublock_depth: 8,
            ofm_ublock_depth: 8,
            ofm_depth: 20,
            kernel_height: 3,
            kernel_width: 3,
            ifm_depth: 12,
            ofm_block_depth: 16,
            depthwise: false,
            part_kernel: false,
            ifm_bits: 8,
            decomp_h: 8,
            decomp_w: 8,
        },
        value: val,
        hex: "580250f1c9881d7651d08210e5f86d5a5645cf4086d624398d62081e57e92102e8bd400820e8644cc649111484824be2ffe19f4a7d0a91a8ab8338bff48640dc1edc75d0a7966944a087eb3d5297211ffc530771e9ed4b0f0fc2a7415d6829157cf9f8ffffffffffffffffffffffffffffff7f80010008000030900420fd120a011259087814fcf13f7592472052d5c125c4657f09840a07bd67757d93020a411d7a60a44c78c45490a6ea20d2d3a791a8b27c70deb8eb3dc2c3652ae8649ce3d3ffffffffffffffffffffffffffffffff03300000010080079200a4040804510fa183a982b88348ef1b84c270d2075751176a81003a0cf488a9d8895188658a4e826efc93ca47747649913dcbc3ba0e3d5226e8353e413f23f151f0ffd4f1f0ffffffffffffffffffffffffffffffff000c00400000a0012400e97f81880005299406751d74a16f0ba320475aca1455f0ad4100809b935d125f20868232f83ff8a76a8aa70e2247ca54a493e785e945273e8aff2a44e06387e7202ebdc7ffffffffffffffffffffffffffffffff0f6000001200001a48021032269042b511488c944a998aff2e140240e8647c699c442204a460e2ffa9a9a25d81005ddc419cf7e415e017f0c6d545b74b1f0ffe9faa83480f8f3ef8f4a07c0675a1c7ffffffffffffffffffffffffffffffff0360000012000004400210d22f07c11516028064cc97c414444a20c43ff53f751005a10797de973d28ff49a0706775bd1dca5700787aca9282ff27e97d1ab47c7571deb8ba3e193c4cc6077aa454bcffffffffffffffffffffffffffffffff0760000012000022400290224121901210d0ffa9ab3ab884f70d0412e2b207bd6749a250a2ebab0e3d9092142346cac45490103e9df812e2bcd113bd5c1a8f5def913215f5f07820bdd0c93889dfffffffffffffffffffffffffffffffff0360000002000007200108880ac4fc4da12040a4f7a40f4228026515751d067aac1d8c28c454ca149de4f1430108baf1d9254512158f66f07fadae038ff7489920f1bdc2f4037c4cc1ff5375303cfeffffffffffffffffffffffffffffff7f00030090000080401280f82f818008a91018ab0bbd0e2d554f85086523a582aeb21b4200703232be8ca404140804fff0ffd441a1575d5cfa88297a7dfab94078185f52f07f15147c7ae503913eb8feffffffffffffffffffffffffffffff1f000300900000d0001280886a2804adaf04842953314127f30a0201c838892f895f5121147df04fd54d1d40611c5c7a630f7a35f48834914fc35d7732be8ce5e39fbab8f49e1ee061303eb8bad0d2ffffffffffffffffffffffffffffffff0330000001000004960024ad0d44f245100a70e24be3a3900428243fc5ffd4575dee0341083888cb9ef476728148cceae2aa431791f2c1388c94113f0f4fd5415c7ae3bee8f8487a79bda74c051d008e87ffe9ffffffffffffffffffffffffffff7f00060020010020032400394a140280140414fc5f3f551065ff8120c241a4f7a50f8650a1687550d761a125090cec1193324557f81474e33ab86c3ef172713c66d5a147ca44c3e3a5bd5490f828fcffffffffffffffffffffffffffffff7f00060020000010001280a4348128f70c81022e7dd07b50451a0ac7faea428f40dbfa14484899960ababfba400022bb34be0c0e55f4824fc13f55abeee330622ae864ec24f1013efd28feab20ae7cfcffffffffffffffffffffffffffffff3f00060020010000012400f1cf501049ac8510761dda7b44f58944a0b44cc549d0ef024201647cc649c149445028e2fff9a9ba38e081386f2953c1bbf26b82e573bb0cfea93ad2e061191f884b1fd4feffffffffffffffffffffffffffffff1f8001000800000ca004205249a001dd3134216582ae826417028580892fe928385280807efea70eaa0ef25a20122e3d2e7b70fb4a940f98d575324ee2e1e0ffa9ba38eff1e9935e261e0fee3af448f1ffffffffffffffffffffffffffffffff000c0040020080014a00a2bf02110049140a7c14fc14ff13720834eaab0e0ee2b2bf1304444e7acfeae2825428401d7a1c4688be7890323115a4a93a1e87b8f4c65d6f5199dee0e329534127e3e1f3ffffffffffffffffffffffffffffffff031800800000c003480052020482d48640c95441d441a4f71f42a1e0a50fae0e2ad40801acc3428f98ec895108cb145d05dd983e11bd44764971d9b33eae0e3d52a6822ee111be1d898fe27fcac7ffffffffffffffffffffffffffffffff0360000002000001200148aa8782e02b0b41f4bc071b5717888d40c03ab4548f546f840a940a9a8a9339b51f148230bee4a4e067e0f99f3a5d871eb8f769c2f68929ba5d527005f030c6e77faa20b2ffffffffffffffffffffffffffffffff07404d01e2b300408829b2bade23d00304400000652a65824ea859041050d13f9271968a93718f10624048f5ff2b97142ca6821401c0ffa3139ff151fcff03004001c55703408200807f4e8aff29e3a483252228e05ef99f00ffd441905d4644f4ff1497c1fffc03ffff070040818202105000e057411d44faff88c411b28040fcaa83b8ecd90f0006e9ff1188fe7fea202e2e7dfe1f00e81d000220a08042dd3f24ef415d5c5d080880085111819ef41e5c7500ff8711d34b6f5c0588e8fff9ff1fa87f0048082092d80cee3af43a400004c0f7484d998a5fd423225040bf08f9c40b2d652ae84404ff6fead0532300f4ffff0f004406051410005026682a48e6a459014081c03ff225998a93f193222208d0dfff0f90c4ffe8c4671111fc3f1f0527c5fffcff0300402081e403022000e0bffeab0e92f807a2115102e0bf0ee2d2fb3222225895ff0700fe9ffff9a70aeae03f00008214001650404124ff108df4b8f4c12d0220b8442206ea202e7b5601f87f87a9bab884388888ffffff03a034000800017c3af88bf01ef4c6d55d0220a0278888b80e2d3ea81b900038f4481911000003001000f8ffd787feffffff",
    },
    ReorderCase {
        name: "depth_first_wide",
        order: WeightOrder {
            ifm_ublock_depth: 8,
            ofm_ublock_depth: 8,
            ofm_depth: 8,
            kernel_height: 1,
            kernel_width: 1,
            ifm_depth: 70,
            ofm_block_depth: 8,
            depthwise: false,
            part_kernel: false,
            ifm_bits: 8,
            decomp_h: 8,
            decomp_w: 8,
        },
        value: val,
        hex: "900d70f1299023f829c6508aa1d7719b865d56454dd2e3340b721444b6ad210238428110b71b422184f1af4928088761fd677da414a2a49af5e5efc6180081e26d523359033d0584945a160a05301fbef5db9f390b0480545535fdb31c81be4dbc2d6b26150ba1500d0003b3e3e2f68401c8a6040270bb42aa5afe59f78402a4dcdbc45bb2864272068081d96f7b0d8a8314150887e36dc8061d06a90a05a08bb77693ac11889a01660066bcb51544a275bc0dd910ba2a412152ad210044c2787beb3f75d54020ea916a9603b0131bde3aeec60a9d355348457521901487f1fd6ffd446b4008a81ea966b9a60bd57b7f9be48450c6088454770482c2a0c3b0feb74e43140247aa47aa595a21e0efe66d522389ba5020d400f000b0e3552ca14436472180b73fd253d574aa844090e5dff6de960584235903c003cc351f249c8e8cb7bb21876d2a1001d4452040b3dcdbde5bf25e51a8608de40cc0007328fa39dec66ed0ad682070224d2800852ede3abebf5a393c7024350300cc0c8d8eb7bb21248422cdc44138e2c3faef48550bc021d2ac01001800fcffff3f80feffffff",
    },
    ReorderCase {
        name: "part_kernel",
        order: WeightOrder {
            ifm_ublock_depth: 8,
            ofm_ublock_depth: 8,
            ofm_depth: 16,
            kernel_height: 10,
            kernel_width: 4,
            ifm_depth: 1,
            ofm_block_depth: 16,
            depthwise: false,
            part_kernel: true,
            ifm_bits: 8,
            decomp_h: 8,
            decomp_w: 8,
        },
        value: val,
        hex: "8b0f50f1599117c51ce29749de16418fa314c4209423c869d6b4241d66842196f58400d234bbc794f8ff431a204bba2f7cfdff2f4542f3ff3f82d02ee9f1d4ffffb51f12e2ffff8fa2a1310d16c7dff8ff1fa2696ca999f2ff5fcb4282ffff8f64602ce9fef0ffff974888fcff5ffb84214a68a88f87eaff7f08d36049fc8dffff4779c8f8ffff084f634bad69ff7f2a0f01feff3f299486a4fbc3d7ffff020d11ff7ffa17822034d6c743a6ffff1f2150f21c7fe3ffff4f9910f1ffff096b6ca9350deaffffe48500feffafa481e78ffb25ffff1f2810f8ff87d0d81e0f1904fefffffe2544e0ff7f458208c9f3df8092feff5fc8965ad9a034feffbf5c2080ffff4b90fd71437a6cffff7f5111a6ff3fe1521f0f99c6ffffea0741f0ff3f3109014adeff06d4fcff7f045b6abd34288dffffe52204fcff7fca3c7ffc921edbffffa91402fcff859487123450f2feffff1f2108fcff1fe2bf0125b6d4ffff9fc408e5ff7f083d83b2403effffdf4594e0ffff4778dc921edbe5ff7fd18680ffffff2b08014309859ce7feff3fc46f40492fb5deffff892d24feff7f8481b24096c7ffff2f7204faffff841f203db6cbf3ff971a08f1ffff4d08419450c679eeffffff11025e9a865aefffffc40e11ffff3fe1505920cbe3ffff1f1501fbffbfd484880f78b25dd2ffff118612ca34cffdff7f370881ffff9ff0115e9aa6f5feff670a08f8ff1f8229ed78c8a0f0fffff79b30c0ffff1f91082079be01254dffff106abd21280de4ffffcf4784e0ffff12feb8013db6fbffbfd208d1ffff117a28a14c2dfeff777f2108feff3f65214464b9c70ff8faff3fc476492fadecffff671e21e4ff7f088d3cf7c77ff9ff7fc084e4ffff5b00029a66f598d2e0ffff106449ffffffffff0b0040002000fcffff",
    },
    ReorderCase {
        name: "part_kernel_deep",
        order: WeightOrder {
            ifm_ublock_depth: 8,
            ofm_ublock_depth: 8,
            ofm_depth: 12,
            kernel_height: 3,
            kernel_width: 3,
            ifm_depth: 20,
            ofm_block_depth: 8,
            depthwise: false,
            part_kernel: true,
            ifm_bits: 8,
            decomp_h: 8,
            decomp_w: 8,
        },
        value: val,
        hex: "f00d50f1c9089f86350b29861d775594f428c8611444397a5b664509782921029e56209040925998852fc00865ed7cb41bb4d74d2101c2d3dc0063320a0241d8e8a3d663ac0110c2ef8a0fd2113fa168dade0d374fce4f10088330c0302dee0220d08f16563cd637d8a290dae050c0829a741cfcd035100010def0040c0c24141aa08d964d3d6a378510d4577c53072904fae9f84932c89e8388c2647176bed662020482fda390005ff15dd1411a8e1d46141d3f3990e40c0466e713e7261f810965b769c33312f1410a31400bd23918b7864440650542c10f922599c5134c288e59f89a8e76d955200291e16918e632080402c668d9e8638be5105a01c22ce27c2140d7b4e1bb01b811086e80691036fadd84128058530819a6f55858f180231489efa0f1defd5c8108106e9e0661800b8c40304ceb470b2bec0685048ff51dd4a4138a0e7e202cc9327481201403a180b301da68d9503b8524eab1bee29b3abc07020149fd74fc24b7340a050c922ccece2714cd4dbbfe58c1180281ff8a400074c477e838a9cdab90e21c481e2433b3068400c5b9f99ad601022141bb91069ef6ff1836ffffffffffffffffffffffffffffffffffffffffffff0f000300900000e0406f80b447280441ae10849b7669c3b3330904006980361836c00ea1a21eb5bee2bbe283a110d6411a3a7e724100921c9e86914d824018608cd68f7e0f0085c20a8cefd020fd6e0482402b45809a83f18364c9770b0500cce2ccc2d7625d082499d66360c50781d077d0f8e9b82500ca1d24198459c4d3020ae3800191f2d1356df8de0d02116cb801928e8f560c08207e20ccc932e0a1609c4ffc9ab6b71036dc3c0dc2f83c804000c3b47eb4d0f76014a096412158f1922ccece300a0471bd4dbb9e1b2b261080276018a08d82a64255d9d4637dc537025107a91f5f1f030501daf0dd4803b84d4201d3306c6234ca4021d4d76345477c333e81082e1b522042c749e740927a0402384866c0182df85628c88f3e56607c07026990cec1f8416b8900286b42214c9664166796262e0490afe9683752bb0984002b3ee83b68641aca093f1d07490681426611e7a36b120320282ec50ddf0d3740814883b05152ff2900c53e90936461f13b2d0422053808483b5fef06ad5e8502603d0d3c01c30a196db4b01eebfbffffffffffffffffffffffffffffffffffffffffffffff6700000200000e800308fcf278007ba65748030cd3c27a3e6ed2f1034996e149869f86e5f39bfa8aef20dd6f1e16647cc64f929d9b8cf897c5f1ec86e777e81c8fafd9f442f81892599caf69876d780c9fde48c3184d2e8de591bdccc247bbe18975c713f0b801c6e8637c4c2f36f0310e0fe935ed861bfc864f072c5f9816567c07d9100f8bf1d171104e409b35ea65f078b41e2bbe499dc7df747a41f8f924599caf2bc27ef8083cfc1da4e327c9db303ee22f3b37ed86a71d0f5ef338707a01750e92599c0df9180f0f5fd36ea461a5f934b87c31fa58cce2cccb0a373ea6978f36dc206cd6e478001ed77aacf8a099feffffffffffffffffffffffffffffffffffffffffffffff9f010008000004000e2076170a1215530994c60f1c24b9b3881fc4ccc227cef7ffb42bc9e2ccf2ff63d0340201869b422b7e4d7bbd1bde00ffcff534086edaff5fdff0044c835f2804bd221082cbf07f80361a36f558ff8f61533f5a5fff8740170002b04ee12f88c78a0ed20efdfff17b8ceff8f8ff09e55d28445859200691ce8d1f24c317ff3fa024b338e938fcbfe481300b8bff1028d26a2820a6d9ff109f5fd3068bffff35edf56ef8fe8f40c0bc42150780fcf43408c030fdffdaf0044c03fcff43e8550221603608276c346ceab1aa1aff1ff88a6f8cd1faffd7c78a8eefd0f90985c2030402fe0fd23990ffffffffffffffffffffffffffffffffffffffffffffffffffff9f010048000048c01b401cbb40283e02a130b3f38973136a423fde6ddaf08c04e3ff2f03b4a3ddc8ff0f4fc330c058280472151006dcefff238c968d3e56a4fd3f848d8669fd8f40e82d02a0100b2b3ebe83a602f93ffedfb1be839a74fe2714daad500acccef8150e7e202cc9ff2fce3a7e92fcff43f09e808c0224599c9daf5b5aa183e6f5ff226eda7566f1ffe7e66bdaa0fd8542186002b182e17fdb48034fc3f87f9bf0340c83ff4320bb0a8000c668d9e863753e84f08fc7f88e302db7f87fe0ff1f0b2b3ebe8326140ac70e881523faff689c741c24ebffe39b7482d4ef8740e06e09c406889f24278b0340fffffffdffffffffffffffffffffffffffffffffffffffffffffffff8fde00a4e088908c12fe83def534c0b089000011b50cd0a6bea20134c47f08220221821e2bbe837482ef8d7f08020020440e72fc4092399234f10f00400cca4488f0d18a5fd34688ff86a701ed7a4a0050cb880000f107b4a9479bfa0a220abb112108843f3a48c72fbe2122f0ea104100103f48e72099c50180357b244844200008b3385f135100c000000400fefff7ffa1ffffffffffffffffffffffffffffff",
    },
    ReorderCase {
        name: "depthwise",
        order: WeightOrder {
            ifm_ublock_depth: 8,
            ofm_ublock_depth: 8,
            ofm_depth: 24,
            kernel_height: 3,
            kernel_width: 3,
            ifm_depth: 1,
            ofm_block_depth: 16,
            depthwise: true,
            part_kernel: false,
            ifm_bits: 8,
            decomp_h: 8,
            decomp_w: 8,
        },
        value: val,
        hex: "200550f1b95d52418ee1d76556f4380db3280962104229829c564d87e74121441a0c21410809f8ed6f691642049c50820c6e7fd12386c0868f1214ab0961cffe160f9420ef53884824faff70875d90d8fffb6dfc28650921a45b0801c83b8488d9d613b7c5ae4399108024b9d52e04210441294b12adad0512c2890b04f3bf3a89ff07ffcf3e9480ad360161a7420840b712029110825b822432e48510e8090b21f71fa1db6fb5092104d34008e116bfe5330000018003c5ffffffffffffffff",
    },
    ReorderCase {
        name: "u55_32",
        order: WeightOrder {
            ifm_ublock_depth: 8,
            ofm_ublock_depth: 4,
            ofm_depth: 12,
            kernel_height: 1,
            kernel_width: 1,
            ifm_depth: 40,
            ofm_block_depth: 8,
            depthwise: false,
            part_kernel: false,
            ifm_bits: 8,
            decomp_h: 8,
            decomp_w: 8,
        },
        value: val,
        hex: "f00650f159869fd76dd9653d8e9220062190a308721a464d12d4304b01c021222a0702cd9e4339140d2521247ad6f0b2f0525d140a0486b3be97f9be87000016181ddef31610936faf82e19dce0d80406f935faf522ffd8342106f4f2890f012d3c055b590402415de591a20f8431240c15141f642bb5308a09c43f49eb4fc2e8740082b957a95a501045e82a3aa57f65e090a4828591ade8123a030aa8586ecc153821008c81403a9367b21fb30c0088973c21ac2f18eb228a46a0e8555343e04dcbc2cc203dd020884f0c987a385ec002136168042b4d07383c2c1fafff165ffffffffffffffffffff0f00d20090d40280e8d601bc9761786000011000404f7ecf5bbdfd070020a000ff576182ff2f00007900b204a120105509b85ac8cd9e431021280f454358c3cb40600e594358df8bcaba6a28a0cade2d306277120a20bce7bf2c10811cc33bbf27bfee1e0400e82e810078b57ae1a59e7c0b85125abd5aa9f0caf61e1292a00182a3824c0120102fcdd1c0110088cc42d642cff50000ca00000400fe1f38ffffffffffffffff",
    },
    ReorderCase {
        name: "dilated",
        order: WeightOrder {
            ifm_ublock_depth: 8,
            ofm_ublock_depth: 8,
            ofm_depth: 8,
            kernel_height: 5,
            kernel_width: 5,
            ifm_depth: 3,
            ofm_block_depth: 8,
            depthwise: false,
            part_kernel: false,
            ifm_bits: 8,
            decomp_h: 4,
            decomp_w: 4,
        },
        value: val,
        hex: "930e50f1795915d5301f27414f498ea2364587511003e8755be62842282a00d3b300816a10c73c374153a092860f124a09a9cfe01805fe2f6ebe1c5ea90bfc1f00148e99053ca240810ae73f24b1dcb5c98263fc7b3d92784aea074001c506800a148eff0d031ebb4f0c050af8ff1f60a80100c728d09cc40753562198e75681c231fe09a93d5711acc0ff81ff00002950801fc7d8bb49ae63144661fd4714cebf2184f1d8e40780512a0220a040e1e7f24728af5735e3b818058affb5cf82a23ec17f024001a3558d1f000a14fe3fe6b99df7a218ff07fc048028500022f5b9656e1c0ac7a834fe43a040f13f5f0eafd4247f004e450015a34001a7fcc8720d21cb0b8563f4ff91c453520d81ff01800285cd1e1e224681e23f38b0fbc45260e7ff01aa01a051383480b20ac13cb7f3285038ffe9960a761c468102ffff00e509002c1c1b10167f9cb3295092dc0285e37f4308e3b1c9c27f8042038002050aeef58a6d1cb706c72830d7ff42058affcf82a23eb11f00f86a00002850a0ff29733bef4548708c02ffff003f058050a0703c2dfc409f5be6a2c3a34081fe2b35b5b82c42c0ff07004001d9070c2a503886aeff60c731d4e7860205fe53c18e63cee60fa0ae0900000ac7f62fb07778a5a6060a14fecf7f804501e0c6281019f0222e8b107656a070fc8f10761c3be528f0ff0050a0450c0080c23152f25fd42b369d609f172850fc4baa6118f3d93f40c20104c3310affac7a24f194845138fec77f80fa0104148ed187e20fd43038d6fa042860e7df52562198e78cff018002059a1098168e51b8dc3f60e7d321150c058affe398b32950ea1f00473200c4060af49f3aec3876cae11805feff018a1a002850389e557c41bd62d349e61a0a14e8ff67413d614bc2f93f00300a2400b0050ac7ffb26a1028d0fcfff4ffffffff",
    },
    ReorderCase {
        name: "ifm16",
        order: WeightOrder {
            ifm_ublock_depth: 8,
            ofm_ublock_depth: 8,
            ofm_depth: 8,
            kernel_height: 2,
            kernel_width: 2,
            ifm_depth: 20,
            ofm_block_depth: 8,
            depthwise: false,
            part_kernel: false,
            ifm_bits: 16,
            decomp_h: 8,
            decomp_w: 8,
        },
        value: val,
        hex: "100d70f1b951613735cca21885c869982545083194e4087e5e76558ff3f62102c0990442e0a2fcc99f6f019084c2bd252f255308855c9c2d354d03643310020f140eb10b11781a0807802814f8d47d246f2e319940801093b39d5e1a046a85038542ec327d0f14c2061f98f292baa73082181014828b7e9e457270082cc5859cd1d84a2404020d2834e8156297130ada0f5268e00a1bbc7dca1dc820105e2e4c21b73440684b0d0a0d70a5cb38a1c0436c18f0a9fa5f8134c01e2150c0cbcb9545f9d34c1101bfff7c8b04852214c42e6cf081a9bfa5b0007f9602117849b9e82bff252410e25bde47f246ae505008c9d98e4ffdbb4025e04f192882bb78b9f02b6740a010f79667911cbc214071216734b694c8301006141af40a11f83f0432d8bd4440e053e5e5e5ca92058402ca9ff79f6f911462c94b4221b704c81008b607468cb3a5069d0638c9100a2814fdbcbfb710088ee40d590a3110018196ce761a745a970d8580061202812b28c4f6066fbec7c718af90b3a501a5972b6c9ff272f97878c813807db2e323fcbf729eb5422136feffc7e4bb611c51cc3ec700f0292fd1bf0f000c4f5e0a51fe7c4b0cf0ff04fe3f7929e46ca9e18f31868ca1b099638c000dc9ff073844f0b1485ee5ff29ce6840af10ff618c0163d079600c47a1c1a7dc057400001600ff0098ffffff",
    },
];
