//! Symbols interned into dense ids, so the hot path indexes arrays instead of hashing text.

use rustc_hash::FxHashMap;
use tickflow_shared::Symbol;
use tickflow_shared::tick::InvalidTick;

/// A symbol's dense id in its [`SymbolTable`]: 0, 1, 2, ... in order of first sight.
pub type SymbolId = u32;

/// Interns symbols: one hash lookup by text, then a dense [`SymbolId`].
///
/// Texts of up to 15 bytes (every real ticker) are looked up packed into an
/// integer with their length: hashing it is two multiplications and the
/// comparison one, with no pointer to follow, on a path taken per trade.
#[derive(Clone, Debug, Default)]
pub struct SymbolTable {
    short: FxHashMap<u128, SymbolId>,
    long: FxHashMap<Box<str>, SymbolId>,
    symbols: Vec<Symbol>,
}

/// The bytes of a text of up to 15 bytes, zero-padded, with its length in
/// the top byte, as one integer. Built from (overlapping) word loads rather
/// than bytes copied into an array: reading such an array back as one
/// integer stalls on store forwarding, which was 40% of a lookup.
#[inline]
fn packed(text: &str) -> Option<u128> {
    let bytes = text.as_bytes();
    let len = bytes.len();
    let word = |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap_or_default());
    let half = |at: usize| u64::from(u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap_or_default()));
    let text = match len {
        16.. => return None,
        // The last word, shifted right past the bytes the first word holds.
        9.. => u128::from(word(0)) | u128::from(word(len - 8) >> (8 * (16 - len))) << 64,
        8 => u128::from(word(0)),
        5.. => u128::from(half(0) | (half(len - 4) >> (8 * (8 - len))) << 32),
        _ => bytes.iter().rev().fold(0, |key, &b| key << 8 | u128::from(b)),
    };
    Some(text | (len as u128) << 120)
}

impl SymbolTable {
    /// The id of `symbol`, assigning the next one on first sight.
    #[inline]
    pub fn intern(&mut self, symbol: &Symbol) -> SymbolId {
        match self.get(symbol.as_str()) {
            Some(id) => id,
            None => self.insert(symbol.clone()),
        }
    }

    /// The id of the symbol spelled `text`, checking its format on first sight.
    pub fn intern_str(&mut self, text: &str) -> Result<SymbolId, InvalidTick> {
        match self.get(text) {
            Some(id) => Ok(id),
            None => Ok(self.insert(Symbol::new(text)?)),
        }
    }

    #[cold]
    fn insert(&mut self, symbol: Symbol) -> SymbolId {
        let id = SymbolId::try_from(self.symbols.len()).unwrap_or(SymbolId::MAX);
        match packed(symbol.as_str()) {
            Some(key) => self.short.insert(key, id),
            None => self.long.insert(symbol.as_str().into(), id),
        };
        self.symbols.push(symbol);
        id
    }

    /// The id of `text`, if interned.
    #[inline]
    pub fn get(&self, text: &str) -> Option<SymbolId> {
        match packed(text) {
            Some(key) => self.short.get(&key).copied(),
            None => self.long.get(text).copied(),
        }
    }

    /// The symbol with id `id`, if any.
    pub fn symbol(&self, id: SymbolId) -> Option<&Symbol> {
        self.symbols.get(id as usize)
    }

    /// Number of symbols interned.
    pub fn len(&self) -> usize {
        self.symbols.len()
    }

    /// Whether no symbol is interned.
    pub fn is_empty(&self) -> bool {
        self.symbols.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_dense_in_order_of_first_sight() {
        let mut table = SymbolTable::default();
        let aapl = Symbol::new("AAPL").expect("symbol");
        assert_eq!(table.intern(&aapl), 0);
        assert_eq!(table.intern_str("MSFT"), Ok(1));
        assert_eq!(table.intern(&aapl), 0);
        assert_eq!(table.intern_str("AAPL"), Ok(0));
        assert_eq!((table.len(), table.get("MSFT"), table.get("IBM")), (2, Some(1), None));
        assert_eq!(table.symbol(1).map(Symbol::as_str), Some("MSFT"));
        assert_eq!(table.symbol(2), None);
        assert_eq!(table.intern_str("NOT A SYMBOL"), Err(InvalidTick::Symbol));
        assert_eq!(table.len(), 2, "a rejected text is not interned");
    }

    #[test]
    fn short_and_long_symbols_are_told_apart_by_every_byte_and_the_length() {
        let mut table = SymbolTable::default();
        let texts = ["A", "AB", "BA", "ABCDEFGHIJKLMNO", "ABCDEFGHIJKLMNOP", "ABCDEFGHIJKLMNOQ", "X.Y/Z:1=2^3-4_5678"];
        for (id, text) in texts.iter().enumerate() {
            assert_eq!(table.intern_str(text), Ok(id as SymbolId), "{text} is new");
        }
        for (id, text) in texts.iter().enumerate() {
            assert_eq!(table.get(text), Some(id as SymbolId), "{text} is found again");
        }
        assert_eq!((table.get("A\0"), table.get("ABCDEFGHIJKLMN"), table.get("")), (None, None, None));
    }

    #[test]
    fn a_packed_key_is_the_zero_padded_bytes_and_the_length() {
        for len in 0..16 {
            let text: String = (0..len).map(|i| char::from(b'A' + i as u8)).collect();
            let mut expected = [0u8; 16];
            expected[..len].copy_from_slice(text.as_bytes());
            expected[15] = len as u8;
            assert_eq!(packed(&text), Some(u128::from_le_bytes(expected)), "{text:?}");
        }
        assert_eq!(packed("ABCDEFGHIJKLMNOP"), None);
    }
}
