//! Which Transformer layers an option applies to, written the way papers speak of layers.
//!
//! In TOML a selection is `"all"`, a 1-based inclusive range `"4-9"`, the top k layers `"top-6"`, or an explicit
//! list `[1, 5, 12]` (1-based, as "layer 1" is the first Transformer layer). [`LayerSelection::resolve`] turns it
//! into sorted 0-based indices once the model depth is known.

use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::ser::Serializer;
use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum LayerSelection {
    #[default]
    All,
    /// 1-based inclusive range.
    Range(usize, usize),
    /// The top `k` layers.
    Top(usize),
    /// 1-based layer numbers.
    List(Vec<usize>),
}

impl LayerSelection {
    /// Parses the string forms `all`, `a-b`, `top-k`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let t = text.trim();
        if t == "all" {
            return Ok(Self::All);
        }
        if let Some(k) = t.strip_prefix("top-") {
            return k
                .parse()
                .map(Self::Top)
                .map_err(|_| format!("\"{text}\": expected top-K with K a whole number"));
        }
        if let Some((a, b)) = t.split_once('-') {
            if let (Ok(a), Ok(b)) = (a.trim().parse(), b.trim().parse()) {
                return Ok(Self::Range(a, b));
            }
        }
        Err(format!(
            "\"{text}\": expected \"all\", a range like \"4-9\", \"top-6\", or a list like [1, 5]"
        ))
    }

    /// Checks what can be checked without knowing the model depth (used when it is unknown until the
    /// checkpoint's `config.json` is read).
    pub fn check_syntax(&self) -> Result<(), String> {
        match self {
            Self::All => Ok(()),
            Self::Top(0) => Err("top-0: name at least one layer".into()),
            Self::Top(_) => Ok(()),
            Self::Range(a, b) if *a == 0 || a > b => {
                Err(format!("{a}-{b}: layers are numbered from 1; need 1 <= start <= end"))
            }
            Self::Range(..) => Ok(()),
            Self::List(l) if l.is_empty() => Err("empty list: name at least one layer".into()),
            Self::List(l) if l.contains(&0) => Err("layer 0: layers are numbered from 1".into()),
            Self::List(_) => Ok(()),
        }
    }

    /// Sorted, de-duplicated 0-based layer indices for a model with `num_layers` Transformer layers.
    pub fn resolve(&self, num_layers: usize) -> Result<Vec<usize>, String> {
        let out: Vec<usize> = match self {
            Self::All => (0..num_layers).collect(),
            Self::Top(k) => {
                if *k == 0 || *k > num_layers {
                    return Err(format!(
                        "top-{k}: must be between 1 and {num_layers} (the model's layers)"
                    ));
                }
                (num_layers - k..num_layers).collect()
            }
            Self::Range(a, b) => {
                if *a == 0 || a > b || *b > num_layers {
                    return Err(format!(
                        "{a}-{b}: layers are numbered 1 to {num_layers}; need 1 <= start <= end <= {num_layers}"
                    ));
                }
                (a - 1..*b).collect()
            }
            Self::List(list) => {
                if list.is_empty() {
                    return Err("empty list: name at least one layer".into());
                }
                if let Some(bad) = list.iter().find(|&&l| l == 0 || l > num_layers) {
                    return Err(format!("layer {bad}: layers are numbered 1 to {num_layers}"));
                }
                let mut v: Vec<usize> = list.iter().map(|l| l - 1).collect();
                v.sort_unstable();
                v.dedup();
                v
            }
        };
        Ok(out)
    }
}

impl LayerSelection {
    /// Which of `num_layers` layers are selected (index 0 = layer 1); an invalid selection selects none.
    pub fn mask(&self, num_layers: usize) -> Vec<bool> {
        let mut mask = vec![false; num_layers];
        for i in self.resolve(num_layers).unwrap_or_default() {
            mask[i] = true;
        }
        mask
    }

    /// The plainest selection of exactly the layers set in `mask` (index 0 = layer 1): `all`, `top-k`, a range
    /// or a list. `None` when no layer is set.
    pub fn from_mask(mask: &[bool]) -> Option<Self> {
        let on: Vec<usize> = mask.iter().enumerate().filter(|(_, &m)| m).map(|(i, _)| i + 1).collect();
        let (&first, &last) = (on.first()?, on.last()?);
        let contiguous = last - first + 1 == on.len();
        Some(if on.len() == mask.len() {
            Self::All
        } else if contiguous && last == mask.len() {
            Self::Top(on.len())
        } else if contiguous {
            Self::Range(first, last)
        } else {
            Self::List(on)
        })
    }
}

impl fmt::Display for LayerSelection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::All => write!(f, "all"),
            Self::Range(a, b) => write!(f, "{a}-{b}"),
            Self::Top(k) => write!(f, "top-{k}"),
            Self::List(l) => {
                let items: Vec<String> = l.iter().map(|x| x.to_string()).collect();
                write!(f, "[{}]", items.join(", "))
            }
        }
    }
}

impl Serialize for LayerSelection {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::List(l) => l.serialize(s),
            other => s.serialize_str(&other.to_string()),
        }
    }
}

impl<'de> Deserialize<'de> for LayerSelection {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = LayerSelection;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                write!(f, "\"all\", \"4-9\", \"top-6\" or a list of layer numbers like [1, 5]")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                LayerSelection::parse(v).map_err(E::custom)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::new();
                while let Some(x) = seq.next_element::<i64>()? {
                    let x = usize::try_from(x)
                        .map_err(|_| de::Error::custom(format!("layer {x}: layer numbers start at 1")))?;
                    out.push(x);
                }
                Ok(LayerSelection::List(out))
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_each_form() {
        assert_eq!(LayerSelection::All.resolve(3).unwrap(), vec![0, 1, 2]);
        assert_eq!(
            LayerSelection::parse("4-6").unwrap().resolve(12).unwrap(),
            vec![3, 4, 5]
        );
        assert_eq!(
            LayerSelection::parse("top-2").unwrap().resolve(12).unwrap(),
            vec![10, 11]
        );
        assert_eq!(LayerSelection::List(vec![5, 1, 5]).resolve(12).unwrap(), vec![0, 4]);
    }

    #[test]
    fn masks_round_trip_to_the_plainest_form() {
        let n = 12;
        for sel in [
            LayerSelection::All,
            LayerSelection::Top(3),
            LayerSelection::Range(2, 5),
            LayerSelection::List(vec![1, 3, 12]),
        ] {
            assert_eq!(LayerSelection::from_mask(&sel.mask(n)), Some(sel));
        }
        assert_eq!(LayerSelection::from_mask(&[false; 4]), None);
        assert_eq!(LayerSelection::List(vec![13]).mask(12), vec![false; 12]);
    }

    #[test]
    fn rejects_out_of_range() {
        assert!(LayerSelection::parse("0-3").unwrap().resolve(12).is_err());
        assert!(LayerSelection::parse("top-13").unwrap().resolve(12).is_err());
        assert!(LayerSelection::List(vec![13]).resolve(12).is_err());
        assert!(LayerSelection::parse("first-3").is_err());
    }
}
