//! The module `include_model!` includes (`$OUT_DIR/kiln/<name>.rs`), generated with `quote`.
//! It only names sizes, types, the statics and the kernel table; the work is done by
//! `kiln_rt::model::Model`, which the generated `Model` wraps. Paths to the runtime go through
//! `__kiln`, which the macro binds to the runtime crate.

use crate::{IoInfo, ModelInfo};
use kiln_compiler::target::{NpuFamily, Target};
use kiln_model_syntax::ModelSpec;
use proc_macro2::{Ident, Literal, Span, TokenStream};
use quote::{format_ident, quote};
use std::path::Path;

/// The generated module's source, for a model with one `i8` input of 490 elements and one
/// `i8` output of 12:
///
/// ```text
/// pub const NAME: &str; pub const TARGET: &str; pub const ARENA_BYTES: usize; pub const PTE_BYTES: usize;
/// pub const NPU_SCRATCH_BYTES: usize; pub const NPU_FAST_SCRATCH_BYTES: usize;
/// pub const INPUTS: usize; pub const OUTPUTS: usize;
/// pub const INPUT_SHAPE: [usize; R]; pub const INPUT_LEN: usize; pub const INPUT_SCALE: f32;
/// pub const INPUT_ZERO_POINT: i32; pub type Input = [i8; 490];      // INPUT_1_SHAPE, Input1, ...
/// pub const OUTPUT_SHAPE ... OUTPUT_ZERO_POINT; pub type Output = [i8; 12]; // OUTPUT_1_SHAPE, Output1, ...
/// pub const KERNEL_NAMES: [&str; K];
/// #[link_section = ".kiln_model"] pub static PTE: AlignedPte<PTE_BYTES>;   // ELF targets
/// pub static KERNELS: [KernelEntry; K];                               // only the kernels used
/// pub const NPU: NpuTarget;                                           // with NPU delegates
/// pub struct Model(kiln_rt::model::Model<i8, 490, i8, 12, CpuOnly or EthosU>);  // Deref to it:
///     input_mut(), run(), output(), method()
/// impl Model {
///     pub fn take() -> Option<Model>;            // once
///     pub fn try_take() -> Result<Model, RtError>;
///     pub fn input_mut_1(&mut self) -> &mut Input1; // further inputs; output_1(), ...
/// }
/// ```
///
/// Scale and zero point are 1.0 and 0 for tensors that are not quantized.
pub fn generate(
    spec: &ModelSpec,
    target: &Target,
    pte_path: &Path,
    info: &ModelInfo,
) -> Result<String, String> {
    let pte = pte_path
        .to_str()
        .ok_or_else(|| format!("OUT_DIR path is not UTF-8: {}", pte_path.display()))?;
    let name = spec.module_name();
    let target_name = target.name;
    let arena_bytes = Literal::usize_unsuffixed(info.arena_bytes);
    let npu_bytes = Literal::usize_unsuffixed(info.npu_scratch_bytes);
    let npu_fast_bytes = Literal::usize_unsuffixed(info.npu_fast_scratch_bytes);
    let n_in = Literal::usize_unsuffixed(info.inputs.len());
    let n_out = Literal::usize_unsuffixed(info.outputs.len());
    let mut io = TokenStream::new();
    for (kind, list) in [("input", &info.inputs), ("output", &info.outputs)] {
        for (i, t) in list.iter().enumerate() {
            io.extend(io_items(kind, i, t)?);
        }
    }
    let k = Literal::usize_unsuffixed(info.kernels.len());
    let names: Vec<String> = info.kernels.iter().map(|k| k.to_string()).collect();
    let ops: Vec<Ident> = info
        .kernels
        .iter()
        .map(|op| Ident::new(&format!("{op:?}"), Span::call_site()))
        .collect();
    let (ti, ni) = first(&info.inputs, "input")?;
    let (to, no) = first(&info.outputs, "output")?;

    // The arena: in `.bss`, or with `arena_region` in the section `.kiln_arena.<region>`, which
    // the firmware's linker script places in that region.
    let arena = match &spec.arena_region {
        Some(r) => {
            let section = arena_section(&r.value);
            quote! {
                #[cfg_attr(target_os = "none", link_section = #section)]
                static ARENA_MEMORY: __kiln::model::SectionArena<ARENA_BYTES> =
                    __kiln::model::SectionArena::new();
                static ARENA: __kiln::model::ArenaSlot<ARENA_BYTES> =
                    __kiln::model::ArenaSlot::new(&ARENA_MEMORY);
            }
        }
        None => quote! {
            static ARENA: __kiln::model::StaticArena<ARENA_BYTES> = __kiln::model::StaticArena::new();
        },
    };
    let npu = info.npu_scratch_bytes > 0;
    let (npu_items, executor, make_executor) = if npu {
        let n = target.npu.ok_or_else(|| {
            format!(
                "the model has Ethos-U delegates but target {} has no NPU",
                target.name
            )
        })?;
        let u65 = n.family == NpuFamily::U65;
        let macs = Literal::u32_unsuffixed(n.macs);
        let base = Literal::usize_unsuffixed(target.npu_base.unwrap_or(0));
        (
            quote! {
                /// The NPU the delegates were compiled for, and its register base on the platform.
                pub const NPU: __kiln::model::NpuTarget =
                    __kiln::model::NpuTarget { u65: #u65, macs: #macs, base: #base };
                /// NPU scratch (region 1), in section `.kiln_npu_scratch` on bare-metal targets:
                /// place it in RAM the NPU reaches (on Corstone-300 SRAM or ISRAM, not the TCMs).
                #[cfg_attr(target_os = "none", link_section = ".kiln_npu_scratch")]
                static NPU_SCRATCH_MEMORY: __kiln::model::SectionArena<NPU_SCRATCH_BYTES> =
                    __kiln::model::SectionArena::new();
                static NPU_SCRATCH: __kiln::model::ArenaSlot<NPU_SCRATCH_BYTES> =
                    __kiln::model::ArenaSlot::new(&NPU_SCRATCH_MEMORY);
                /// NPU fast scratch (region 2), in section `.kiln_npu_scratch` on bare-metal
                /// targets, next to the scratch.
                #[cfg_attr(target_os = "none", link_section = ".kiln_npu_scratch")]
                static NPU_FAST_SCRATCH_MEMORY: __kiln::model::SectionArena<NPU_FAST_SCRATCH_BYTES> =
                    __kiln::model::SectionArena::new();
                static NPU_FAST_SCRATCH: __kiln::model::ArenaSlot<NPU_FAST_SCRATCH_BYTES> =
                    __kiln::model::ArenaSlot::new(&NPU_FAST_SCRATCH_MEMORY);
            },
            quote!(__kiln::model::EthosU),
            quote! {
                __kiln::model::EthosU {
                    target: NPU,
                    scratch: NPU_SCRATCH.take().ok_or(__kiln::RtError::ModelTaken)?,
                    fast_scratch: NPU_FAST_SCRATCH.take().ok_or(__kiln::RtError::ModelTaken)?,
                }
            },
        )
    } else {
        (
            TokenStream::new(),
            quote!(__kiln::model::CpuOnly),
            quote!(__kiln::model::CpuOnly),
        )
    };

    // Inputs and outputs after the first: checked once in try_take, then typed accessors.
    let mut checks = TokenStream::new();
    let mut accessors = TokenStream::new();
    for (i, t) in info.inputs.iter().enumerate().skip(1) {
        let (ty, n) = (elem_type(t)?, Literal::usize_unsuffixed(t.len()));
        let idx = Literal::usize_unsuffixed(i);
        let f = format_ident!("input_mut_{i}");
        let alias = format_ident!("Input{i}");
        let doc = format!("Input {i}, written in place in the arena.");
        checks.extend(quote!(m.check_input::<#ty, #n>(#idx)?;));
        accessors.extend(quote! {
            #[doc = #doc]
            pub fn #f(&mut self) -> &mut #alias { self.0.input_at::<#ty, #n>(#idx) }
        });
    }
    for (i, t) in info.outputs.iter().enumerate().skip(1) {
        let (ty, n) = (elem_type(t)?, Literal::usize_unsuffixed(t.len()));
        let idx = Literal::usize_unsuffixed(i);
        let f = format_ident!("output_{i}");
        let alias = format_ident!("Output{i}");
        let doc = format!("Output {i} of the last run.");
        checks.extend(quote!(m.check_output::<#ty, #n>(#idx)?;));
        accessors.extend(quote! {
            #[doc = #doc]
            pub fn #f(&self) -> &#alias { self.0.output_at::<#ty, #n>(#idx) }
        });
    }
    let mutable = if checks.is_empty() {
        quote!()
    } else {
        quote!(mut)
    };

    let tokens = quote! {
        /// Module name.
        pub const NAME: &str = #name;
        /// Target the model was compiled for.
        pub const TARGET: &str = #target_name;
        /// Bytes of the static arena `Model` owns (the compiler's memory plan).
        pub const ARENA_BYTES: usize = #arena_bytes;
        /// Bytes of the embedded `.pte`.
        pub const PTE_BYTES: usize = include_bytes!(#pte).len();
        /// Bytes of 16-byte aligned scratch the model's Ethos-U delegates run in (0: CPU only).
        pub const NPU_SCRATCH_BYTES: usize = #npu_bytes;
        /// Bytes of 16-byte aligned fast scratch (region 2: the U65's Dedicated_Sram SRAM, where
        /// the delegates keep their internal feature maps; 0 when none uses one).
        pub const NPU_FAST_SCRATCH_BYTES: usize = #npu_fast_bytes;
        /// Number of inputs.
        pub const INPUTS: usize = #n_in;
        /// Number of outputs.
        pub const OUTPUTS: usize = #n_out;
        #io
        /// The operators this model runs (`name.overload`), in first-use order.
        pub const KERNEL_NAMES: [&str; #k] = [#(#names),*];
        /// The compiled program, 16-byte aligned, in section `.kiln_model` on ELF targets (place
        /// it with the linker script).
        #[cfg_attr(any(target_os = "none", target_os = "linux"), link_section = ".kiln_model")]
        pub static PTE: __kiln::model::AlignedPte<PTE_BYTES> =
            __kiln::model::AlignedPte(*include_bytes!(#pte));
        /// Kernel table with only the operators this model uses (resolved at compile time, so the
        /// rest are not linked).
        pub static KERNELS: [__kiln::exec::KernelEntry; #k] =
            [#(__kiln::model::entry(__kiln::ops::OpKind::#ops)),*];
        #arena
        #npu_items
        /// The model: its loaded program over the static arena, handed out once by
        /// [`Model::take`]; `input_mut()`, `run()`, `output()` and `method()` come from
        /// `kiln_rt::model::Model`, which it dereferences to.
        pub struct Model(__kiln::model::Model<#ti, #ni, #to, #no, #executor>);
        impl Model {
            /// The model, the first time it is called; `None` afterwards.
            pub fn take() -> Option<Model> {
                Model::try_take().ok()
            }
            /// The model, or why not (`RtError::ModelTaken` after the first call).
            pub fn try_take() -> Result<Model, __kiln::RtError> {
                let arena = ARENA.take().ok_or(__kiln::RtError::ModelTaken)?;
                let #mutable m = __kiln::model::Model::load(PTE.bytes(), &KERNELS, arena, #make_executor)?;
                #checks
                Ok(Model(m))
            }
            #accessors
        }
        impl core::ops::Deref for Model {
            type Target = __kiln::model::Model<#ti, #ni, #to, #no, #executor>;
            fn deref(&self) -> &Self::Target {
                &self.0
            }
        }
        impl core::ops::DerefMut for Model {
            fn deref_mut(&mut self) -> &mut Self::Target {
                &mut self.0
            }
        }
    };
    Ok(format!(
        "// Generated by kiln-build for include_model!({:?}, target = {:?}). Do not edit.\n{tokens}\n",
        spec.path.value, spec.target.value
    ))
}

/// Element type and length of the first input or output.
fn first(list: &[IoInfo], kind: &str) -> Result<(TokenStream, Literal), String> {
    let t = list
        .first()
        .ok_or_else(|| format!("the model has no {kind}"))?;
    Ok((elem_type(t)?, Literal::usize_unsuffixed(t.len())))
}

fn elem_type(t: &IoInfo) -> Result<TokenStream, String> {
    let ty: syn::Type =
        syn::parse_str(t.rust_type).map_err(|e| format!("element type {}: {e}", t.rust_type))?;
    Ok(quote!(#ty))
}

/// The constants and the array type of input or output `i`.
fn io_items(kind: &str, i: usize, t: &IoInfo) -> Result<TokenStream, String> {
    let upper = kind.to_ascii_uppercase();
    let sfx = if i == 0 {
        String::new()
    } else {
        format!("_{i}")
    };
    let alias = if i == 0 {
        format_ident!("{}", if kind == "input" { "Input" } else { "Output" })
    } else {
        format_ident!("{}{i}", if kind == "input" { "Input" } else { "Output" })
    };
    let shape_c = format_ident!("{upper}{sfx}_SHAPE");
    let len_c = format_ident!("{upper}{sfx}_LEN");
    let scale_c = format_ident!("{upper}{sfx}_SCALE");
    let zp_c = format_ident!("{upper}{sfx}_ZERO_POINT");
    let rank = Literal::usize_unsuffixed(t.shape.len());
    let dims = t.shape.iter().map(|&d| Literal::usize_unsuffixed(d));
    let len = Literal::usize_unsuffixed(t.len());
    if !t.scale.is_finite() {
        return Err(format!("{kind} {i} scale is not finite ({})", t.scale));
    }
    let scale = Literal::f32_unsuffixed(t.scale);
    let zp = Literal::i32_unsuffixed(t.zero_point);
    let ty = elem_type(t)?;
    let docs = [
        format!("Shape of {kind} {i}."),
        format!("Elements of {kind} {i}."),
        format!("Quantization scale of {kind} {i} (`real = scale * (q - zero_point)`; 1.0 if not quantized)."),
        format!("Quantization zero point of {kind} {i} (0 if not quantized)."),
        format!("The data of {kind} {i}."),
    ];
    let [d0, d1, d2, d3, d4] = &docs;
    Ok(quote! {
        #[doc = #d0]
        pub const #shape_c: [usize; #rank] = [#(#dims),*];
        #[doc = #d1]
        pub const #len_c: usize = #len;
        #[doc = #d2]
        pub const #scale_c: f32 = #scale;
        #[doc = #d3]
        pub const #zp_c: i32 = #zp;
        #[doc = #d4]
        pub type #alias = [#ty; #len];
    })
}

/// The linker section of arenas placed with `arena_region = "<region>"`.
pub fn arena_section(region: &str) -> String {
    format!(".kiln_arena.{}", region.to_ascii_lowercase())
}
