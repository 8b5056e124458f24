//! What a compilation reports per node, shared by the lowering (which fills it) and the
//! compiler driver (which returns it).

/// One row of the placement table in the compile report.
#[derive(Clone, Debug, PartialEq)]
pub struct NodeReport {
    /// Node name in the source model.
    pub node: String,
    /// Operator type as the source model spells it.
    pub source_op: String,
    /// Kernels it became (`name.overload`), or empty for an alias.
    pub kernels: Vec<String>,
    /// Where it runs and why.
    pub placement: String,
}
