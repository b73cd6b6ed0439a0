//! A restricted reader for PyTorch zip checkpoints (`pytorch_model.bin`, written by `torch.save` since 1.6):
//! a stored (uncompressed) zip holding `<name>/data.pkl` and one raw little-endian buffer per storage in
//! `<name>/data/<key>`.
//!
//! The pickle is *interpreted*, never executed: a small stack machine understands the opcodes `torch.save`
//! emits for a state dict and builds only dicts, tuples, lists, strings, numbers and tensor descriptions. Of
//! the globals a pickle may name, only `collections.OrderedDict`, `torch._utils._rebuild_tensor_v2`,
//! `torch._utils._rebuild_parameter` and the `torch.*Storage` types have a meaning; any other global becomes an
//! inert value, so a malicious file can at worst fail to load. Legacy (pre-1.6, non-zip) files are refused
//! with a hint to convert them to safetensors.

use std::collections::BTreeMap;

use safetensors::Dtype;

use super::torch_zip::{entry_bytes, zip_entries};
use super::weights::{decode_floats, RawTensor};

/// Reads all tensors of a PyTorch zip checkpoint held in `bytes`.
pub(crate) fn read_torch_zip(bytes: &[u8]) -> Result<BTreeMap<String, RawTensor>, String> {
    let entries = zip_entries(bytes)?;
    let pkl_name = entries
        .keys()
        .find(|n| n.ends_with("/data.pkl") || *n == "data.pkl")
        .cloned()
        .ok_or("no data.pkl in the archive (not a PyTorch checkpoint)")?;
    let root = pkl_name.trim_end_matches("data.pkl").to_string();
    if let Some(order) = entries.get(&format!("{root}byteorder")) {
        if entry_bytes(bytes, order)? != b"little" {
            return Err("big-endian checkpoints are not supported".into());
        }
    }
    let pickle = entry_bytes(bytes, &entries[&pkl_name])?;
    let top = Machine::default().run(pickle)?;
    let dict = match top {
        Value::Dict(items) => {
            // Some checkpoints nest the weights under "state_dict".
            match items
                .iter()
                .find(|(k, _)| matches!(k, Value::Str(s) if s == "state_dict"))
            {
                Some((_, Value::Dict(inner))) => inner.clone(),
                _ => items,
            }
        }
        _ => return Err("the pickle does not hold a dict of tensors".into()),
    };
    let mut out = BTreeMap::new();
    for (key, value) in dict {
        let (Value::Str(name), Value::Tensor(t)) = (key, value) else {
            continue;
        };
        let entry = entries
            .get(&format!("{root}data/{}", t.storage_key))
            .ok_or_else(|| format!("tensor {name}: storage {} missing from the archive", t.storage_key))?;
        let raw = entry_bytes(bytes, entry)?;
        let all =
            decode_floats(t.dtype, raw).ok_or_else(|| format!("tensor {name}: unsupported dtype {:?}", t.dtype))?;
        out.insert(
            name.clone(),
            gather(&all, &t).map_err(|e| format!("tensor {name}: {e}"))?,
        );
    }
    Ok(out)
}

/// Copies a (possibly strided) view out of its storage into a row-major tensor.
fn gather(storage: &[f32], t: &TensorRef) -> Result<RawTensor, String> {
    // Check the view's extent before allocating anything (the shape comes from the file).
    let n = t
        .shape
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or("tensor size overflows")?;
    if t.stride.len() != t.shape.len() {
        return Err("size and stride ranks differ".into());
    }
    if n > 0 {
        let last = t
            .shape
            .iter()
            .zip(&t.stride)
            .try_fold(t.offset, |acc, (&d, &s)| {
                (d - 1).checked_mul(s).and_then(|x| acc.checked_add(x))
            })
            .ok_or("tensor extent overflows")?;
        if last >= storage.len() {
            return Err("view reaches past its storage".into());
        }
    }
    let mut data = Vec::with_capacity(n);
    let mut index = vec![0usize; t.shape.len()];
    for _ in 0..n {
        let offset = t.offset + index.iter().zip(&t.stride).map(|(i, s)| i * s).sum::<usize>();
        data.push(*storage.get(offset).ok_or("view reaches past its storage")?);
        for d in (0..index.len()).rev() {
            index[d] += 1;
            if index[d] < t.shape[d] {
                break;
            }
            index[d] = 0;
        }
    }
    Ok(RawTensor {
        shape: t.shape.clone(),
        data,
    })
}

/// A tensor described by the pickle: a view into a storage.
#[derive(Debug, Clone, PartialEq)]
struct TensorRef {
    storage_key: String,
    dtype: Dtype,
    offset: usize,
    shape: Vec<usize>,
    stride: Vec<usize>,
}

/// The values the restricted pickle machine can build.
#[derive(Debug, Clone, PartialEq)]
enum Value {
    None,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Bytes(Vec<u8>),
    Tuple(Vec<Value>),
    List(Vec<Value>),
    Dict(Vec<(Value, Value)>),
    /// A named global, never imported.
    Global(String, String),
    Storage {
        key: String,
        dtype: Dtype,
    },
    Tensor(TensorRef),
    /// The result of calling an unknown global: inert.
    Opaque,
    Mark,
}

#[derive(Default)]
struct Machine {
    stack: Vec<Value>,
    memo: BTreeMap<u32, Value>,
}

impl Machine {
    fn pop(&mut self) -> Result<Value, String> {
        self.stack.pop().ok_or_else(|| "pickle stack underflow".to_string())
    }

    /// Pops down to the last MARK, returning the items above it in order.
    fn pop_mark(&mut self) -> Result<Vec<Value>, String> {
        let pos = self
            .stack
            .iter()
            .rposition(|v| *v == Value::Mark)
            .ok_or("pickle MARK missing")?;
        let items = self.stack.split_off(pos + 1);
        self.stack.pop();
        Ok(items)
    }

    fn top_mut(&mut self) -> Result<&mut Value, String> {
        self.stack
            .last_mut()
            .ok_or_else(|| "pickle stack underflow".to_string())
    }

    fn run(mut self, p: &[u8]) -> Result<Value, String> {
        let mut i = 0usize;
        let take = |i: &mut usize, n: usize| -> Result<&[u8], String> {
            let s = p.get(*i..*i + n).ok_or("truncated pickle")?;
            *i += n;
            Ok(s)
        };
        let line = |i: &mut usize| -> Result<String, String> {
            let end = p[*i..].iter().position(|&c| c == b'\n').ok_or("truncated pickle")?;
            let s = String::from_utf8_lossy(&p[*i..*i + end]).into_owned();
            *i += end + 1;
            Ok(s)
        };
        loop {
            let op = *take(&mut i, 1)?.first().ok_or("truncated pickle")?;
            match op {
                0x80 => {
                    take(&mut i, 1)?; // PROTO
                }
                0x95 => {
                    take(&mut i, 8)?; // FRAME
                }
                b'.' => return self.pop(), // STOP
                b'(' => self.stack.push(Value::Mark),
                b'}' => self.stack.push(Value::Dict(Vec::new())),
                b']' => self.stack.push(Value::List(Vec::new())),
                b')' => self.stack.push(Value::Tuple(Vec::new())),
                b'N' => self.stack.push(Value::None),
                0x88 => self.stack.push(Value::Bool(true)),
                0x89 => self.stack.push(Value::Bool(false)),
                b'K' => {
                    let v = take(&mut i, 1)?[0];
                    self.stack.push(Value::Int(i64::from(v)));
                }
                b'M' => {
                    let s = take(&mut i, 2)?;
                    self.stack.push(Value::Int(i64::from(u16::from_le_bytes([s[0], s[1]]))));
                }
                b'J' => {
                    let s = take(&mut i, 4)?;
                    self.stack
                        .push(Value::Int(i64::from(i32::from_le_bytes([s[0], s[1], s[2], s[3]]))));
                }
                0x8a => {
                    // LONG1: little-endian two's complement of n bytes.
                    let n = take(&mut i, 1)?[0] as usize;
                    let s = take(&mut i, n)?;
                    if n > 8 {
                        return Err("pickle integer too large".into());
                    }
                    let mut buf = if s.last().is_some_and(|&b| b & 0x80 != 0) {
                        [0xFF; 8]
                    } else {
                        [0; 8]
                    };
                    buf[..n].copy_from_slice(s);
                    self.stack.push(Value::Int(i64::from_le_bytes(buf)));
                }
                b'G' => {
                    let s = take(&mut i, 8)?;
                    let v = f64::from_be_bytes([s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7]]);
                    self.stack.push(Value::Float(v));
                }
                b'X' | 0x8c | 0x8d => {
                    // BINUNICODE (u32 len), SHORT_BINUNICODE (u8 len), BINUNICODE8 (u64 len)
                    let n = match op {
                        b'X' => {
                            let s = take(&mut i, 4)?;
                            u32::from_le_bytes([s[0], s[1], s[2], s[3]]) as usize
                        }
                        0x8c => take(&mut i, 1)?[0] as usize,
                        _ => {
                            let s = take(&mut i, 8)?;
                            u64::from_le_bytes([s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7]]) as usize
                        }
                    };
                    let s = take(&mut i, n)?;
                    self.stack.push(Value::Str(String::from_utf8_lossy(s).into_owned()));
                }
                b'T' | b'U' | b'B' | b'C' => {
                    let n = if op == b'T' || op == b'B' {
                        let s = take(&mut i, 4)?;
                        u32::from_le_bytes([s[0], s[1], s[2], s[3]]) as usize
                    } else {
                        take(&mut i, 1)?[0] as usize
                    };
                    let s = take(&mut i, n)?.to_vec();
                    self.stack.push(Value::Bytes(s));
                }
                b'c' => {
                    let module = line(&mut i)?;
                    let name = line(&mut i)?;
                    self.stack.push(Value::Global(module, name));
                }
                0x93 => {
                    let name = self.pop()?;
                    let module = self.pop()?;
                    match (module, name) {
                        (Value::Str(m), Value::Str(n)) => self.stack.push(Value::Global(m, n)),
                        _ => return Err("STACK_GLOBAL needs two strings".into()),
                    }
                }
                b'q' => {
                    let k = u32::from(take(&mut i, 1)?[0]);
                    let v = self.top_mut()?.clone();
                    self.memo.insert(k, v);
                }
                b'r' => {
                    let s = take(&mut i, 4)?;
                    let v = self.top_mut()?.clone();
                    self.memo.insert(u32::from_le_bytes([s[0], s[1], s[2], s[3]]), v);
                }
                0x94 => {
                    let k = self.memo.len() as u32;
                    let v = self.top_mut()?.clone();
                    self.memo.insert(k, v);
                }
                b'h' | b'j' => {
                    let k = if op == b'h' {
                        u32::from(take(&mut i, 1)?[0])
                    } else {
                        let s = take(&mut i, 4)?;
                        u32::from_le_bytes([s[0], s[1], s[2], s[3]])
                    };
                    let v = self.memo.get(&k).cloned().ok_or("pickle memo key missing")?;
                    self.stack.push(v);
                }
                b't' => {
                    let items = self.pop_mark()?;
                    self.stack.push(Value::Tuple(items));
                }
                0x85..=0x87 => {
                    let n = (op - 0x84) as usize;
                    if self.stack.len() < n {
                        return Err("pickle stack underflow".into());
                    }
                    let items = self.stack.split_off(self.stack.len() - n);
                    self.stack.push(Value::Tuple(items));
                }
                b'a' => {
                    let v = self.pop()?;
                    if let Value::List(l) = self.top_mut()? {
                        l.push(v);
                    }
                }
                b'e' => {
                    let items = self.pop_mark()?;
                    if let Value::List(l) = self.top_mut()? {
                        l.extend(items);
                    }
                }
                b's' => {
                    let v = self.pop()?;
                    let k = self.pop()?;
                    if let Value::Dict(d) = self.top_mut()? {
                        d.push((k, v));
                    }
                }
                b'u' => {
                    let items = self.pop_mark()?;
                    if let Value::Dict(d) = self.top_mut()? {
                        let mut it = items.into_iter();
                        while let (Some(k), Some(v)) = (it.next(), it.next()) {
                            d.push((k, v));
                        }
                    }
                }
                b'Q' => {
                    // BINPERSID: ('storage', <StorageType global>, key, location, numel)
                    let pid = self.pop()?;
                    self.stack.push(persistent_storage(pid)?);
                }
                b'R' => {
                    let args = self.pop()?;
                    let callable = self.pop()?;
                    self.stack.push(call(callable, args)?);
                }
                0x81 => {
                    // NEWOBJ: cls.__new__(cls, *args): inert.
                    self.pop()?;
                    self.pop()?;
                    self.stack.push(Value::Opaque);
                }
                b'b' => {
                    // BUILD: sets state on an object (e.g. a state dict's `_metadata`): ignored.
                    self.pop()?;
                }
                _ => return Err(format!("unsupported pickle opcode 0x{op:02x} at byte {}", i - 1)),
            }
        }
    }
}

fn storage_dtype(name: &str) -> Option<Dtype> {
    Some(match name {
        "FloatStorage" => Dtype::F32,
        "DoubleStorage" => Dtype::F64,
        "HalfStorage" => Dtype::F16,
        "BFloat16Storage" => Dtype::BF16,
        "LongStorage" => Dtype::I64,
        "IntStorage" => Dtype::I32,
        "ByteStorage" => Dtype::U8,
        "BoolStorage" => Dtype::BOOL,
        _ => return None,
    })
}

fn persistent_storage(pid: Value) -> Result<Value, String> {
    let Value::Tuple(items) = pid else {
        return Err("unexpected persistent id".into());
    };
    match items.as_slice() {
        [Value::Str(kind), Value::Global(module, name), Value::Str(key), ..]
            if kind == "storage" && module == "torch" =>
        {
            let dtype = storage_dtype(name).ok_or_else(|| format!("unsupported storage type torch.{name}"))?;
            Ok(Value::Storage {
                key: key.clone(),
                dtype,
            })
        }
        _ => Err("unexpected persistent id".into()),
    }
}

fn usizes(v: &Value) -> Result<Vec<usize>, String> {
    match v {
        Value::Tuple(items) | Value::List(items) => items
            .iter()
            .map(|x| match x {
                Value::Int(n) if *n >= 0 => Ok(*n as usize),
                _ => Err("bad tensor size or stride".to_string()),
            })
            .collect(),
        _ => Err("bad tensor size or stride".into()),
    }
}

/// Applies one of the few globals with a meaning; anything else yields an inert value.
fn call(callable: Value, args: Value) -> Result<Value, String> {
    let Value::Global(module, name) = callable else {
        return Ok(Value::Opaque);
    };
    let Value::Tuple(args) = args else {
        return Ok(Value::Opaque);
    };
    Ok(match (module.as_str(), name.as_str()) {
        ("collections", "OrderedDict") => Value::Dict(Vec::new()),
        ("torch._utils", "_rebuild_tensor_v2") => match args.as_slice() {
            [Value::Storage { key, dtype }, Value::Int(offset), size, stride, ..] => Value::Tensor(TensorRef {
                storage_key: key.clone(),
                dtype: *dtype,
                offset: usize::try_from(*offset).map_err(|_| "negative storage offset")?,
                shape: usizes(size)?,
                stride: usizes(stride)?,
            }),
            _ => return Err("unexpected arguments to _rebuild_tensor_v2".into()),
        },
        ("torch._utils", "_rebuild_parameter") => args.into_iter().next().unwrap_or(Value::Opaque),
        _ => Value::Opaque,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_globals_are_inert() {
        // pickle of os.system("echo hi") built by hand: c os\nsystem\n ( X "echo hi" t R .
        let mut p = b"cos\nsystem\n(X".to_vec();
        p.extend(7u32.to_le_bytes());
        p.extend(b"echo hitR.");
        let v = Machine::default().run(&p).unwrap();
        assert_eq!(v, Value::Opaque);
    }

    #[test]
    fn not_a_zip_is_refused_with_a_hint() {
        let err = read_torch_zip(b"\x80\x02}q\x00.").unwrap_err();
        assert!(err.contains("safetensors"), "{err}");
    }
}
