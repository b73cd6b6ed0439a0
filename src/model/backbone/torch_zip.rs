//! Reads the member table of a zip archive held in memory, enough for PyTorch checkpoints: stored
//! (uncompressed) members, zip64 sizes and offsets. No decompression and no writing.

use std::collections::BTreeMap;

/// Where a zip member's data lies.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Entry {
    local_header: usize,
    size: usize,
}

pub(crate) fn entry_bytes<'a>(bytes: &'a [u8], e: &Entry) -> Result<&'a [u8], String> {
    let h = e.local_header;
    if read_u32(bytes, h)? != 0x0403_4b50 {
        return Err("corrupt zip: bad local header".into());
    }
    let start = h + 30 + read_u16(bytes, h + 26)? as usize + read_u16(bytes, h + 28)? as usize;
    let end = start.checked_add(e.size).ok_or("corrupt zip: member size overflows")?;
    bytes
        .get(start..end)
        .ok_or_else(|| "corrupt zip: member past end of file".to_string())
}

/// `n` bytes at `at`, `None` past the end (offsets come from the file, so overflow is checked too).
fn bytes_at(b: &[u8], at: usize, n: usize) -> Option<&[u8]> {
    at.checked_add(n).and_then(|end| b.get(at..end))
}

fn read_u16(b: &[u8], at: usize) -> Result<u16, String> {
    bytes_at(b, at, 2)
        .map(|s| u16::from_le_bytes([s[0], s[1]]))
        .ok_or_else(|| "truncated zip".into())
}
fn read_u32(b: &[u8], at: usize) -> Result<u32, String> {
    bytes_at(b, at, 4)
        .map(|s| u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
        .ok_or_else(|| "truncated zip".into())
}
fn read_u64(b: &[u8], at: usize) -> Result<u64, String> {
    bytes_at(b, at, 8)
        .map(|s| u64::from_le_bytes([s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7]]))
        .ok_or_else(|| "truncated zip".into())
}

/// The members of a zip file from its central directory (zip64 sizes and offsets included). Only stored
/// (uncompressed) members are accepted, which is what `torch.save` writes.
pub(crate) fn zip_entries(b: &[u8]) -> Result<BTreeMap<String, Entry>, String> {
    if b.len() < 22 || read_u32(b, 0)? != 0x0403_4b50 {
        return Err(
            "not a zip archive; legacy (pre-1.6) PyTorch files are not supported: convert the checkpoint to \
                    model.safetensors"
                .into(),
        );
    }
    let eocd = (0..=b.len() - 22)
        .rev()
        .take(65_557)
        .find(|&i| read_u32(b, i) == Ok(0x0605_4b50))
        .ok_or("corrupt zip: no end of central directory")?;
    let mut count = read_u16(b, eocd + 10)? as u64;
    let mut cd = read_u32(b, eocd + 16)? as u64;
    if (count == 0xFFFF || cd == 0xFFFF_FFFF) && eocd >= 20 && read_u32(b, eocd - 20)? == 0x0706_4b50 {
        let z64 = read_u64(b, eocd - 20 + 8)? as usize;
        if read_u32(b, z64)? != 0x0606_4b50 {
            return Err("corrupt zip64 end of central directory".into());
        }
        count = read_u64(b, z64 + 32)?;
        cd = read_u64(b, z64 + 48)?;
    }
    let mut at = cd as usize;
    let mut out = BTreeMap::new();
    for _ in 0..count {
        if read_u32(b, at)? != 0x0201_4b50 {
            return Err("corrupt zip: bad central directory entry".into());
        }
        let method = read_u16(b, at + 10)?;
        let mut size = read_u32(b, at + 24)? as u64;
        let name_len = read_u16(b, at + 28)? as usize;
        let extra_len = read_u16(b, at + 30)? as usize;
        let comment_len = read_u16(b, at + 32)? as usize;
        let mut offset = read_u32(b, at + 42)? as u64;
        let name_bytes = b.get(at + 46..at + 46 + name_len).ok_or("truncated zip")?;
        let name = String::from_utf8_lossy(name_bytes).into_owned();
        // zip64 extra field: the 64-bit values present are those whose 32-bit field is saturated, in order
        // uncompressed size, compressed size, local header offset.
        let mut e = at + 46 + name_len;
        let extra_end = e + extra_len;
        while e + 4 <= extra_end {
            let id = read_u16(b, e)?;
            let len = read_u16(b, e + 2)? as usize;
            if id == 0x0001 {
                let mut p = e + 4;
                if size == 0xFFFF_FFFF {
                    size = read_u64(b, p)?;
                    p += 8;
                }
                if read_u32(b, at + 20)? == 0xFFFF_FFFF {
                    p += 8;
                }
                if offset == 0xFFFF_FFFF {
                    offset = read_u64(b, p)?;
                }
            }
            e += 4 + len;
        }
        if method != 0 {
            return Err(format!(
                "zip member {name} is compressed (method {method}); torch.save writes stored members"
            ));
        }
        out.insert(
            name,
            Entry {
                local_header: offset as usize,
                size: size as usize,
            },
        );
        at = extra_end + comment_len;
    }
    Ok(out)
}
