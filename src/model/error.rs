//! Why a model block could not be built from its config.
//!
//! Construction is the one place where sizes chosen by a user (bottleneck width, channels, heads, number of hidden
//! states) meet the constraints of a block, so every `init` that can reject a size returns [`ModelError`], naming the
//! config key involved and what to change. Forward passes trust what `init` accepted.

/// A size in a model config that a block cannot be built with.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// A size that must be positive is zero.
    #[error("{key} = 0: must be >= 1")]
    ZeroSize { key: &'static str },
    /// ECAPA-TDNN splits its channels into `scale` Res2Net groups.
    #[error(
        "head.channels = {channels}: ECAPA-TDNN needs a multiple of {scale} (its Res2Net scale); try {suggestion}"
    )]
    ChannelsNotDivisible {
        channels: usize,
        scale: usize,
        suggestion: usize,
    },
    /// A margin outside the range the loss is defined on.
    #[error("loss.margin = {margin}: must be finite and in [0, {max}) for {kind}")]
    MarginOutOfRange { margin: f64, max: f64, kind: &'static str },
    /// An option that does not fit the model it is applied to (e.g. layers beyond the checkpoint's depth).
    #[error("{key}: {reason}")]
    Config { key: String, reason: String },
    /// The backbone could not be built or loaded.
    #[error(transparent)]
    Backbone(#[from] super::backbone::BackboneError),
    /// A non-positive or non-finite logit scale.
    #[error("loss.scale = {scale}: must be finite and > 0 (30 is usual)")]
    BadScale { scale: f64 },
}

/// `Err(ZeroSize)` when `value` is zero.
pub(crate) fn positive(key: &'static str, value: usize) -> Result<usize, ModelError> {
    if value == 0 {
        Err(ModelError::ZeroSize { key })
    } else {
        Ok(value)
    }
}
