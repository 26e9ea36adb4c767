//! Symbols interned into dense ids, so the hot path indexes arrays instead of hashing text.

use rustc_hash::FxHashMap;
use tickflow_shared::Symbol;
use tickflow_shared::tick::InvalidTick;

/// A symbol's dense id in its [`SymbolTable`]: 0, 1, 2, ... in order of first sight.
pub type SymbolId = u32;

/// Interns symbols: one hash lookup by text, then a dense [`SymbolId`].
#[derive(Clone, Debug, Default)]
pub struct SymbolTable {
    ids: FxHashMap<Box<str>, SymbolId>,
    symbols: Vec<Symbol>,
}

impl SymbolTable {
    /// The id of `symbol`, assigning the next one on first sight.
    #[inline]
    pub fn intern(&mut self, symbol: &Symbol) -> SymbolId {
        match self.ids.get(symbol.as_str()) {
            Some(&id) => id,
            None => self.insert(symbol.clone()),
        }
    }

    /// The id of the symbol spelled `text`, checking its format on first sight.
    pub fn intern_str(&mut self, text: &str) -> Result<SymbolId, InvalidTick> {
        match self.ids.get(text) {
            Some(&id) => Ok(id),
            None => Ok(self.insert(Symbol::new(text)?)),
        }
    }

    #[cold]
    fn insert(&mut self, symbol: Symbol) -> SymbolId {
        let id = SymbolId::try_from(self.symbols.len()).unwrap_or(SymbolId::MAX);
        self.ids.insert(symbol.as_str().into(), id);
        self.symbols.push(symbol);
        id
    }

    /// The id of `text`, if interned.
    pub fn get(&self, text: &str) -> Option<SymbolId> {
        self.ids.get(text).copied()
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
}
