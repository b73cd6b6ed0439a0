//! The parameter-efficient baselines the framework is compared with that are not bottleneck adapters: LoRA on the
//! attention projections ([`lora`]) and prefix tuning ([`prefix`]). They sit inside the Transformer layers through
//! the same hooks as the inner-layer adapters ([`super::adapters::inner::AdapterSet`]), which holds them per layer.

pub mod lora;
pub mod prefix;
