//! Incremental window statistics.

pub(crate) mod decay;
pub(crate) mod exact;
pub(crate) mod fenwick;
pub(crate) mod moments;
pub(crate) mod ordered;
pub(crate) mod python_median;
pub(crate) mod rank_union;
