//! `#[cfg(...)]` as the build script can know it: a model whose `include_model!` call is
//! compiled out (a disabled feature, another target) is not compiled.
//!
//! Build scripts see the package's enabled features as `CARGO_FEATURE_<NAME>` and the target's
//! configuration as `CARGO_CFG_<KEY>` (comma-separated values). A predicate is true, false or
//! unknown (e.g. `test`, which one build-script run cannot tell); only a predicate known to be
//! false skips the call, so an unknown one builds the model as before.

use std::collections::BTreeSet;

/// What the build script knows about this build's configuration.
#[derive(Clone, Debug, Default)]
pub(crate) struct CfgEnv {
    /// Enabled features, as [`feature_key`]s.
    pub(crate) features: BTreeSet<String>,
    /// `CARGO_CFG_*` variables: key (lower case) and values.
    target: Vec<(String, Vec<String>)>,
}

/// A feature name as cargo spells it in `CARGO_FEATURE_<NAME>`: upper case, `-` as `_`.
pub(crate) fn feature_key(name: &str) -> String {
    name.to_ascii_uppercase().replace('-', "_")
}

impl CfgEnv {
    /// From the build script's environment.
    pub(crate) fn from_env() -> CfgEnv {
        let mut env = CfgEnv::default();
        for (k, v) in std::env::vars() {
            if let Some(f) = k.strip_prefix("CARGO_FEATURE_") {
                env.features.insert(f.to_string());
            } else if let Some(c) = k.strip_prefix("CARGO_CFG_") {
                let values = v.split(',').map(str::to_string).collect();
                env.target.push((c.to_ascii_lowercase(), values));
            }
        }
        env
    }

    /// False only when one of `attrs` is a `#[cfg(...)]` known to be false.
    pub(crate) fn enabled(&self, attrs: &[syn::Attribute]) -> bool {
        attrs.iter().filter(|a| a.path().is_ident("cfg")).all(|a| {
            match a.parse_args::<syn::Meta>() {
                Ok(m) => self.eval(&m) != Some(false),
                // rustc reports a malformed cfg.
                Err(_) => true,
            }
        })
    }

    /// Three-valued: `Some(b)` when known, `None` when the build script cannot tell.
    fn eval(&self, m: &syn::Meta) -> Option<bool> {
        match m {
            syn::Meta::Path(p) => {
                let name = p.get_ident()?.to_string();
                // A name cargo reports (`unix`, `debug_assertions`, ...) is set; others unknown.
                self.target.iter().any(|(k, _)| *k == name).then_some(true)
            }
            syn::Meta::NameValue(nv) => {
                let key = nv.path.get_ident()?.to_string();
                let syn::Expr::Lit(syn::ExprLit {
                    lit: syn::Lit::Str(value),
                    ..
                }) = &nv.value
                else {
                    return None;
                };
                let value = value.value();
                if key == "feature" {
                    return Some(self.features.contains(&feature_key(&value)));
                }
                let (_, values) = self.target.iter().find(|(k, _)| *k == key)?;
                Some(values.contains(&value))
            }
            syn::Meta::List(l) => {
                let op = l.path.get_ident()?.to_string();
                let args = l
                    .parse_args_with(
                        syn::punctuated::Punctuated::<syn::Meta, syn::Token![,]>::parse_terminated,
                    )
                    .ok()?;
                let vals: Vec<Option<bool>> = args.iter().map(|a| self.eval(a)).collect();
                match op.as_str() {
                    "not" if vals.len() == 1 => vals[0].map(|v| !v),
                    "all" if vals.contains(&Some(false)) => Some(false),
                    "all" if vals.iter().all(|v| *v == Some(true)) => Some(true),
                    "any" if vals.contains(&Some(true)) => Some(true),
                    "any" if vals.iter().all(|v| *v == Some(false)) => Some(false),
                    _ => None,
                }
            }
        }
    }
}

/// The attributes of an item.
pub(crate) fn item_attrs(i: &syn::Item) -> &[syn::Attribute] {
    use syn::Item;
    match i {
        Item::Const(x) => &x.attrs,
        Item::Enum(x) => &x.attrs,
        Item::ExternCrate(x) => &x.attrs,
        Item::Fn(x) => &x.attrs,
        Item::ForeignMod(x) => &x.attrs,
        Item::Impl(x) => &x.attrs,
        Item::Macro(x) => &x.attrs,
        Item::Mod(x) => &x.attrs,
        Item::Static(x) => &x.attrs,
        Item::Struct(x) => &x.attrs,
        Item::Trait(x) => &x.attrs,
        Item::TraitAlias(x) => &x.attrs,
        Item::Type(x) => &x.attrs,
        Item::Union(x) => &x.attrs,
        Item::Use(x) => &x.attrs,
        _ => &[],
    }
}

/// The attributes of the expressions a macro call can be or sit in (`#[cfg(..)] m!()`,
/// `#[cfg(..)] { .. }`); none for the others.
pub(crate) fn expr_attrs(e: &syn::Expr) -> &[syn::Attribute] {
    match e {
        syn::Expr::Macro(x) => &x.attrs,
        syn::Expr::Block(x) => &x.attrs,
        syn::Expr::Unsafe(x) => &x.attrs,
        syn::Expr::If(x) => &x.attrs,
        syn::Expr::Call(x) => &x.attrs,
        _ => &[],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(features: &[&str], target: &[(&str, &str)]) -> CfgEnv {
        CfgEnv {
            features: features.iter().map(|f| feature_key(f)).collect(),
            target: target
                .iter()
                .map(|(k, v)| (k.to_string(), v.split(',').map(str::to_string).collect()))
                .collect(),
        }
    }

    fn on(e: &CfgEnv, cfg: &str) -> bool {
        let item: syn::ItemFn = syn::parse_str(&format!("#[cfg({cfg})] fn f() {{}}")).unwrap();
        e.enabled(&item.attrs)
    }

    #[test]
    fn features_targets_and_unknowns() {
        let e = env(
            &["big-model"],
            &[("target_os", "none"), ("target_feature", "dsp,mve")],
        );
        assert!(on(&e, "feature = \"big-model\""));
        assert!(!on(&e, "feature = \"other\""));
        assert!(on(&e, "not(feature = \"other\")"));
        assert!(!on(
            &e,
            "all(feature = \"big-model\", target_os = \"linux\")"
        ));
        assert!(on(&e, "any(feature = \"other\", target_feature = \"mve\")"));
        assert!(!on(&e, "any(feature = \"other\", target_os = \"linux\")"));
        // Unknown to a build script: the model is built, as without a cfg.
        assert!(on(&e, "test"));
        assert!(on(&e, "not(test)"));
        assert!(on(&e, "all(test, feature = \"big-model\")"));
        assert!(!on(&e, "all(test, feature = \"other\")"));
        assert!(on(&e, "panic = \"abort\""));
    }
}
