//! SQL injection by tokenizing, in the spirit of libinjection: a value is
//! split into SQL tokens, the tokens are folded into a short *fingerprint*
//! (one letter per token type), and the fingerprint is matched against
//! shapes that only an injection produces.
//!
//! Owns the SQL tokenizer, the folding rules and the dangerous shapes; hands
//! on a [`Finding`] (fingerprint, quote context, matched range) to the
//! engine, which turns it into a `specula-sqli-lex` hit.
//!
//! Why tokens rather than regexes: an injection has to be valid SQL once it
//! lands in the query, so spacing, case, comments, `%0a`, hex or scientific
//! numbers and backticks change the bytes but not the token types. The
//! input is read three times, as if it started outside a string, inside a
//! `'...'` string and inside a `"..."` string (the three places a parameter
//! is pasted into a query); an injection must break out of that context, so
//! in the quoted contexts a shape must begin right after the closing quote.
//! MySQL executable comments (`/*!50000 UNION*/`) are read as code; other
//! `/* */` comments are whitespace, and are also read a second time as
//! nothing at all (`UN/**/ION` is how filter evasion joins words).
//!
//! Our own design: the token alphabet, folding and shapes below are derived
//! from how SQL is parsed, not copied from libinjection's fingerprint list.
//!
//! Fingerprint alphabet: `s` string, `1` number or literal value (`NULL`,
//! `TRUE`), `n` name (bareword, `a.b`, backticked), `v` variable (`@x`,
//! `@@version`), `f` function (a name followed by `(`), `E` statement
//! keyword (`SELECT`, `DROP`, `EXEC`...), `U` set operator (`UNION`...), `B`
//! `ORDER BY` / `GROUP BY`, `k` other keyword (`FROM`, `HAVING`...), `&`
//! logic (`AND`, `OR`, `XOR`, `&&`, `||`), `o` operator (`=`, `LIKE`, `IN`,
//! `+`...), `c` comment (kept only at the end), `(` `)` `,` `;`, `t` text
//! (a string left open at the end that holds spaces: prose, not a value),
//! and `?` for anything else.
//!
//! Bounded work: tokenizing stops after [`MAX_TOKENS`] folded tokens and is
//! linear in the input, which the engine caps per point.

use std::ops::Range;
use std::sync::OnceLock;

use regex::bytes::Regex;

/// Folded tokens kept per reading; the shapes only look at the start of a
/// value, and the rest is left to the regex rules.
pub const MAX_TOKENS: usize = 12;

/// Where the value is assumed to be pasted in the query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuoteContext {
    /// As a bare number or name: `WHERE id = <value>`.
    None,
    /// Inside `'<value>'`.
    Single,
    /// Inside `"<value>"`.
    Double,
}

/// An injection shape found in a value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub context: QuoteContext,
    /// The folded token types, e.g. `s&1o1c`.
    pub fingerprint: String,
    /// Bytes of the value from the first token of the shape to the last
    /// token read. Indexes the input, or the comment-free copy the caller's
    /// scratch holds when [`Finding::joined`] is set.
    pub range: Range<usize>,
    /// Found in the copy with `/* */` comments removed (`UN/**/ION`).
    pub joined: bool,
}

impl Finding {
    /// The matched bytes: from `input`, or from `scratch` for joined findings.
    pub fn matched<'a>(&self, input: &'a [u8], scratch: &'a [u8]) -> &'a [u8] {
        let src = if self.joined { scratch } else { input };
        src.get(self.range.clone()).unwrap_or_default()
    }
}

#[derive(Debug, Clone, Copy)]
struct Tok {
    kind: u8,
    start: usize,
    end: usize,
    /// Upper-case keyword id for the folds that need the word itself.
    word: Word,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Word {
    Other,
    Order,
    By,
    All,
    Not,
    Minus,
    Plus,
    Tilde,
    Bang,
    Arith,
}

/// The type of a bareword, by its upper-case spelling.
fn classify(upper: &[u8]) -> (u8, Word) {
    let k = match upper {
        b"UNION" | b"INTERSECT" | b"EXCEPT" => b'U',
        b"SELECT" | b"INSERT" | b"UPDATE" | b"DELETE" | b"DROP" | b"CREATE" | b"ALTER"
        | b"TRUNCATE" | b"EXEC" | b"EXECUTE" | b"DECLARE" | b"SHUTDOWN" | b"GRANT" | b"REVOKE"
        | b"WAITFOR" | b"HANDLER" | b"MERGE" | b"RENAME" | b"PRAGMA" | b"ATTACH" => b'E',
        b"AND" | b"OR" | b"XOR" => b'&',
        b"LIKE" | b"RLIKE" | b"REGEXP" | b"GLOB" | b"IS" | b"IN" | b"BETWEEN" | b"DIV" | b"MOD"
        | b"SOUNDS" | b"COLLATE" | b"ESCAPE" | b"NOTNULL" | b"ISNULL" => b'o',
        b"NOT" => return (b'o', Word::Not),
        b"NULL" | b"TRUE" | b"FALSE" | b"CURRENT_USER" | b"SESSION_USER" | b"SYSTEM_USER"
        | b"CURRENT_DATE" | b"CURRENT_TIME" | b"CURRENT_TIMESTAMP" => b'1',
        b"ORDER" | b"GROUP" => return (b'k', Word::Order),
        b"BY" => return (b'k', Word::By),
        b"ALL" => return (b'k', Word::All),
        b"FROM" | b"WHERE" | b"INTO" | b"VALUES" | b"TABLE" | b"DATABASE" | b"SCHEMA"
        | b"HAVING" | b"LIMIT" | b"OFFSET" | b"PROCEDURE" | b"CASE" | b"WHEN" | b"THEN"
        | b"ELSE" | b"END" | b"AS" | b"DISTINCT" | b"TOP" | b"JOIN" | b"ON" | b"DELAY"
        | b"OUTFILE" | b"DUMPFILE" | b"INFILE" | b"SET" | b"USING" | b"LOAD_FILE" => b'k',
        // MySQL's SELECT modifiers, which stand between SELECT and its
        // projection (`UNION SELECT SQL_NO_CACHE 1,2`).
        b"DISTINCTROW"
        | b"HIGH_PRIORITY"
        | b"STRAIGHT_JOIN"
        | b"SQL_SMALL_RESULT"
        | b"SQL_BIG_RESULT"
        | b"SQL_BUFFER_RESULT"
        | b"SQL_NO_CACHE"
        | b"SQL_CACHE"
        | b"SQL_CALC_FOUND_ROWS" => b'k',
        _ => b'n',
    };
    (k, Word::Other)
}

fn is_word_byte(b: u8) -> bool {
    WORD_BYTES.get(usize::from(b)).copied().unwrap_or(false)
}

/// Bytes of a bare word: letters, digits, `_`, `$`, `.` and non-ASCII. A
/// table, because words are where the tokenizer spends its time.
// Built in a const block, where `get_mut` is not available; `b < 256`.
#[allow(clippy::indexing_slicing)]
static WORD_BYTES: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 256 {
        let x = b as u8;
        t[b] = x.is_ascii_alphanumeric() || x == b'_' || x == b'$' || x == b'.' || x >= 0x80;
        b += 1;
    }
    t
};

/// SQL whitespace, including the control bytes MySQL accepts (`\v`, `\f`,
/// `\0` after decoding) and the non-breaking space of Latin-1.
fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c | 0 | 0xa0)
}

/// A Latin-1 non-breaking space (0xA0, which MySQL reads as whitespace in a
/// latin1 connection: `1'%A0OR%A01=1`) ends a word, unless it follows a
/// non-ASCII byte, where it is part of a UTF-8 character (`à` is C3 A0).
fn latin1_space(s: &[u8], i: usize) -> bool {
    s.get(i) == Some(&0xa0) && (i == 0 || s.get(i - 1).is_some_and(u8::is_ascii))
}

/// The folded tokens of one reading.
struct Tokens {
    toks: [Tok; MAX_TOKENS],
    len: usize,
}

impl Tokens {
    fn new() -> Tokens {
        Tokens {
            toks: [Tok {
                kind: 0,
                start: 0,
                end: 0,
                word: Word::Other,
            }; MAX_TOKENS],
            len: 0,
        }
    }

    fn last(&self) -> Option<&Tok> {
        self.len.checked_sub(1).and_then(|i| self.toks.get(i))
    }

    fn last_kind(&self, back: usize) -> u8 {
        self.len
            .checked_sub(1 + back)
            .and_then(|i| self.toks.get(i))
            .map_or(0, |t| t.kind)
    }

    fn pop(&mut self) -> Option<Tok> {
        let i = self.len.checked_sub(1)?;
        self.len = i;
        self.toks.get(i).copied()
    }

    fn full(&self) -> bool {
        self.len >= MAX_TOKENS
    }

    /// Append with folding. Returns false when full.
    fn push(&mut self, mut t: Tok) -> bool {
        // A comment followed by anything is whitespace: only a trailing
        // comment (cutting off the rest of the query) is kept.
        if self.last_kind(0) == b'c' {
            self.pop();
        }
        match t.kind {
            b'c' if self.last_kind(0) == b'c' => return true,
            // `ORDER BY`, `GROUP BY`.
            b'k' if t.word == Word::By => {
                if let Some(prev) = self.last() {
                    if prev.word == Word::Order {
                        let start = prev.start;
                        self.pop();
                        t = Tok {
                            kind: b'B',
                            start,
                            word: Word::Other,
                            ..t
                        };
                    }
                }
            }
            // `UNION ALL` is a `UNION`.
            b'k' if t.word == Word::All && self.last_kind(0) == b'U' => {
                if let Some(prev) = self.toks.get_mut(self.len.wrapping_sub(1)) {
                    prev.end = t.end;
                }
                return true;
            }
            // `IS NOT`, `NOT IN`, `NOT LIKE`: one operator.
            b'o' if self.last_kind(0) == b'o'
                && (t.word == Word::Not || self.last().is_some_and(|p| p.word == Word::Not)) =>
            {
                if let Some(prev) = self.toks.get_mut(self.len.wrapping_sub(1)) {
                    prev.end = t.end;
                    prev.word = Word::Other;
                }
                return true;
            }
            b'1' => {
                // Unary sign: `-1`, `~1`, `!1` after something that is not
                // a value.
                if let Some(p) = self.last() {
                    let unary =
                        matches!(p.word, Word::Minus | Word::Plus | Word::Tilde | Word::Bang);
                    let before = self.last_kind(1);
                    if unary && !matches!(before, b'1' | b's' | b'n' | b'v' | b')') {
                        let start = p.start;
                        self.pop();
                        t.start = start;
                    }
                }
                // Arithmetic: `1-2`, `3*4` fold to one value.
                if self.last_kind(1) == b'1'
                    && self
                        .last()
                        .is_some_and(|p| matches!(p.word, Word::Minus | Word::Plus | Word::Arith))
                {
                    self.pop();
                    if let Some(v) = self.toks.get_mut(self.len.wrapping_sub(1)) {
                        v.end = t.end;
                    }
                    return true;
                }
            }
            // Adjacent literals concatenate (`'a' 'b'`).
            b's' if self.last_kind(0) == b's' => {
                if let Some(prev) = self.toks.get_mut(self.len.wrapping_sub(1)) {
                    prev.end = t.end;
                }
                return true;
            }
            _ => {}
        }
        if self.full() {
            return false;
        }
        if let Some(slot) = self.toks.get_mut(self.len) {
            *slot = t;
            self.len += 1;
        }
        true
    }

    /// The token types, on the stack (no allocation per reading).
    fn fingerprint(&self) -> ([u8; MAX_TOKENS], usize) {
        let mut fp = [0u8; MAX_TOKENS];
        for (d, t) in fp.iter_mut().zip(self.toks.iter().take(self.len)) {
            *d = t.kind;
        }
        (fp, self.len.min(MAX_TOKENS))
    }
}

/// End of a string starting after its opening `q` at `i`: the index after
/// the closing quote, or the input length when it is never closed.
/// `''` inside is an escaped quote, and so is `\'` (MySQL).
fn string_end(s: &[u8], i: usize, q: u8) -> usize {
    string_close(s, i, q, true).unwrap_or(s.len())
}

/// Like [`string_end`], `None` when the string is never closed; with
/// `backslash` false only `''` escapes (ANSI SQL, PostgreSQL, MSSQL, SQLite).
fn string_close(s: &[u8], mut i: usize, q: u8, backslash: bool) -> Option<usize> {
    while let Some(&b) = s.get(i) {
        if b == b'\\' && backslash {
            i += 2;
        } else if b == q {
            if s.get(i + 1) == Some(&q) {
                i += 2;
            } else {
                return Some(i + 1);
            }
        } else {
            i += 1;
        }
    }
    None
}

/// Tokenize `s` as if it followed an opening quote `ctx` (or none).
#[cfg(test)]
fn tokenize(s: &[u8], ctx: QuoteContext) -> Tokens {
    tokenize_with(s, ctx, true)
}

/// `backslash`: whether `\'` escapes the quote that closes the context.
fn tokenize_with(s: &[u8], ctx: QuoteContext, backslash: bool) -> Tokens {
    let mut out = Tokens::new();
    let mut i = 0usize;
    match ctx {
        QuoteContext::None => {}
        QuoteContext::Single | QuoteContext::Double => {
            let q = if ctx == QuoteContext::Single {
                b'\''
            } else {
                b'"'
            };
            let end = string_close(s, 0, q, backslash).unwrap_or(s.len());
            out.push(Tok {
                kind: b's',
                start: 0,
                end,
                word: Word::Other,
            });
            i = end;
        }
    }
    let mut upper = [0u8; 32];
    // ODBC escapes opened (`{fn `) whose `}` is still to come.
    let mut odbc_open = 0usize;
    while let Some(&b) = s.get(i) {
        let start = i;
        let mut word = Word::Other;
        let kind: u8;
        match b {
            _ if is_space(b) => {
                i += 1;
                continue;
            }
            b'/' if s.get(i + 1) == Some(&b'*') => {
                // MySQL executable comment: its body is code.
                if s.get(i + 2) == Some(&b'!') {
                    i += 3;
                    while s.get(i).is_some_and(u8::is_ascii_digit) {
                        i += 1;
                    }
                    continue;
                }
                let end = memchr::memmem::find(s.get(i + 2..).unwrap_or_default(), b"*/")
                    .map_or(s.len(), |p| i + 2 + p + 2);
                i = end;
                kind = b'c';
            }
            // The end of an executable comment.
            b'*' if s.get(i + 1) == Some(&b'/') => {
                i += 2;
                continue;
            }
            b'-' if s.get(i + 1) == Some(&b'-') => {
                i = memchr::memchr(b'\n', s.get(i..).unwrap_or_default())
                    .map_or(s.len(), |p| i + p);
                kind = b'c';
            }
            b'#' => {
                i = memchr::memchr(b'\n', s.get(i..).unwrap_or_default())
                    .map_or(s.len(), |p| i + p);
                kind = b'c';
            }
            b'\'' | b'"' => {
                let closed = string_close(s, i + 1, b, true);
                i = closed.unwrap_or(s.len());
                // A string the value leaves open is closed by the query's
                // own quote (`' OR 'a` + `'`): a short token then. Open text
                // with spaces is prose after an apostrophe or a quote mark.
                let open = closed.is_none();
                let spaced = s
                    .get(start..i)
                    .is_some_and(|t| t.iter().any(|&c| is_space(c)));
                kind = if open && spaced { b't' } else { b's' };
            }
            // An ODBC escape, `{fn user()}`, `{d '2020-01-01'}`: MySQL reads
            // `{ identifier expr }` as the expression (sql_yacc.yy), so the
            // brace and the identifier are whitespace.
            b'{' if odbc_escape_len(s, i).is_some() => {
                i += odbc_escape_len(s, i).unwrap_or(1);
                odbc_open += 1;
                continue;
            }
            b'}' if odbc_open > 0 => {
                odbc_open -= 1;
                i += 1;
                continue;
            }
            // An SQL Server bracketed name, `[users]`, `[dbo].[users]`, where
            // SQL takes a name: after a keyword, an operator, `,` or `(`
            // (`SELECT [name],2 FROM [users]`). Elsewhere, as at the start
            // of a value, brackets are a list or an array index.
            b'[' if matches!(
                out.last_kind(0),
                b'E' | b'k' | b'B' | b'o' | b'&' | b',' | b'('
            ) && bracket_name_len(s, i).is_some() =>
            {
                i += bracket_name_len(s, i).unwrap_or(1);
                while s.get(i) == Some(&b'.') {
                    match bracket_name_len(s, i + 1) {
                        Some(n) => i += 1 + n,
                        None => {
                            i += 1;
                            while s.get(i).is_some_and(|&c| is_word_byte(c)) {
                                i += 1;
                            }
                            break;
                        }
                    }
                }
                kind = b'n';
            }
            b'`' => {
                // `a`.`b` and `a`.b are one qualified name.
                loop {
                    i = memchr::memchr(b'`', s.get(i + 1..).unwrap_or_default())
                        .map_or(s.len(), |p| i + 1 + p + 1);
                    if s.get(i) != Some(&b'.') {
                        break;
                    }
                    i += 1;
                    while s.get(i).is_some_and(|&c| is_word_byte(c)) {
                        i += 1;
                    }
                    if s.get(i) != Some(&b'`') {
                        break;
                    }
                }
                kind = b'n';
            }
            b'@' => {
                i += 1;
                if s.get(i) == Some(&b'@') {
                    i += 1;
                }
                match s.get(i) {
                    Some(&q @ (b'\'' | b'"' | b'`')) => i = string_end(s, i + 1, q),
                    _ => {
                        while s.get(i).is_some_and(|&c| is_word_byte(c)) {
                            i += 1;
                        }
                    }
                }
                kind = b'v';
            }
            b'0'..=b'9' => {
                let rest = s.get(i..).unwrap_or_default();
                i += number_len(rest);
                kind = b'1';
            }
            // MySQL's `\N` is NULL (sql_lex.cc), and a keyword may follow
            // it unspaced: `\Nunion select` (review round 33).
            b'\\' if s.get(i + 1) == Some(&b'N') => {
                i += 2;
                kind = b'1';
            }
            b'.' if s.get(i + 1).is_some_and(u8::is_ascii_digit) => {
                let rest = s.get(i..).unwrap_or_default();
                i += number_len(rest);
                kind = b'1';
            }
            b'(' | b')' | b',' | b';' => {
                i += 1;
                kind = b;
            }
            b'|' | b'&' if s.get(i + 1) == Some(&b) => {
                i += 2;
                kind = b'&';
            }
            b'=' | b'<' | b'>' | b'!' | b'+' | b'-' | b'*' | b'/' | b'%' | b'^' | b'|' | b'&'
            | b'~' | b':' => {
                i += 1;
                // Two- and three-byte comparisons: <=, >=, <>, !=, <=>, :=.
                while s
                    .get(i)
                    .is_some_and(|&c| matches!(c, b'=' | b'>' | b'<') && i - start < 3)
                {
                    i += 1;
                }
                word = match (b, i - start) {
                    (b'-', 1) => Word::Minus,
                    (b'+', 1) => Word::Plus,
                    (b'~', 1) => Word::Tilde,
                    (b'!', 1) => Word::Bang,
                    (b'*' | b'/' | b'%', 1) => Word::Arith,
                    _ => Word::Other,
                };
                kind = b'o';
            }
            _ if is_word_byte(b) => {
                // String prefixes: N'..', X'..', B'..', E'..' and _charset'..'.
                // The word runs to the first byte that is not a word byte or
                // is a Latin-1 space (rare: only 0xA0 is checked for that).
                let mut j = i;
                while let Some(&c) = s.get(j) {
                    if !is_word_byte(c) || (c == 0xa0 && latin1_space(s, j)) {
                        break;
                    }
                    j += 1;
                }
                let w = s.get(i..j).unwrap_or_default();
                if s.get(j) == Some(&b'\'')
                    && (w.len() == 1 && b"nNxXbBeE".contains(&b) || b == b'_')
                {
                    i = string_end(s, j + 1, b'\'');
                    kind = b's';
                } else {
                    i = j;
                    let n = w.len().min(upper.len());
                    for (d, c) in upper.iter_mut().zip(w.iter().take(n)) {
                        *d = c.to_ascii_uppercase();
                    }
                    let (k, wd) = if w.len() > upper.len() {
                        (b'n', Word::Other)
                    } else {
                        classify(upper.get(..n).unwrap_or_default())
                    };
                    word = wd;
                    kind = if k == b'n' && next_is_paren(s, i) {
                        b'f'
                    } else {
                        k
                    };
                }
            }
            _ => {
                i += 1;
                kind = b'?';
            }
        }
        if !out.push(Tok {
            kind,
            start,
            end: i,
            word,
        }) {
            break;
        }
    }
    out
}

/// Length of the opening of an ODBC escape at `i`: `{`, optional spaces,
/// a word of letters and a space or quote after it (`{fn `, `{d '`,
/// `{oj `). A JSON object (`{"a"`, `{a:1}`) is not one.
fn odbc_escape_len(s: &[u8], i: usize) -> Option<usize> {
    let mut j = i + 1;
    while s.get(j).is_some_and(|&c| is_space(c)) {
        j += 1;
    }
    let word = j;
    while s.get(j).is_some_and(u8::is_ascii_alphabetic) {
        j += 1;
    }
    let after = *s.get(j)?;
    (j > word && (is_space(after) || after == b'\'')).then_some(j - i)
}

/// Length of a bracketed SQL Server name at `i`: `[`, one or more word
/// bytes or spaces, `]`. Lists and JSON arrays (`[1,2]`, `["a"]`) are not.
fn bracket_name_len(s: &[u8], i: usize) -> Option<usize> {
    if s.get(i) != Some(&b'[') {
        return None;
    }
    let mut j = i + 1;
    while s.get(j).is_some_and(|&c| is_word_byte(c) || c == b' ') {
        j += 1;
    }
    (j > i + 1 && s.get(j) == Some(&b']')).then_some(j + 1 - i)
}

/// Whether the next significant byte after `i` is `(` (a function call;
/// comments count as whitespace, as in `SLEEP/**/(5)`).
fn next_is_paren(s: &[u8], mut i: usize) -> bool {
    loop {
        match s.get(i) {
            Some(&b) if is_space(b) => i += 1,
            Some(b'/') if s.get(i + 1) == Some(&b'*') => {
                match memchr::memmem::find(s.get(i + 2..).unwrap_or_default(), b"*/") {
                    Some(p) => i += 2 + p + 2,
                    None => return false,
                }
            }
            Some(b'(') => return true,
            _ => return false,
        }
    }
}

/// Length of the number at the start of `s`: `0x1f`, `0b101`, `12`,
/// `1.5`, `.5`, `1e10`, `1.e-3`.
fn number_len(s: &[u8]) -> usize {
    let at = |i: usize| s.get(i).copied().unwrap_or(0);
    if at(0) == b'0' && matches!(at(1), b'x' | b'X') && at(2).is_ascii_hexdigit() {
        let mut i = 2;
        while at(i).is_ascii_hexdigit() {
            i += 1;
        }
        return i;
    }
    if at(0) == b'0' && matches!(at(1), b'b' | b'B') && matches!(at(2), b'0' | b'1') {
        let mut i = 2;
        while matches!(at(i), b'0' | b'1') {
            i += 1;
        }
        return i;
    }
    let mut i = 0;
    while at(i).is_ascii_digit() {
        i += 1;
    }
    if at(i) == b'.' {
        i += 1;
        while at(i).is_ascii_digit() {
            i += 1;
        }
    }
    if matches!(at(i), b'e' | b'E') {
        let mut j = i + 1;
        if matches!(at(j), b'+' | b'-') {
            j += 1;
        }
        if at(j).is_ascii_digit() {
            i = j;
            while at(i).is_ascii_digit() {
                i += 1;
            }
        }
    }
    i.max(1)
}

/// Shapes, as regexes over a fingerprint. The prefix (what precedes the
/// injection) is matched by the first group so the matched text starts at
/// the injection itself.
struct Shapes {
    /// Outside a string: the value is a number or variable (optionally
    /// closing parentheses), or starts with the injection itself.
    bare: Regex,
    /// Inside a string: the closing quote must come first.
    quoted: Regex,
}

/// What may follow the breakout, in every context.
///
/// * `U k* E` then a projection: `UNION [ALL] SELECT 1,2`, `UNION SELECT *`.
/// * `; E` then something a statement needs: `; DROP TABLE`, `; EXEC xp_x 'a'`,
///   or a statement cut short (`;drop`, `;update users`, `;truncate[t`);
///   `; SET @var`. (Shapes are anchored: the `;` opens the value or follows
///   the breakout, so prose with a semicolon mid-sentence is not read.)
/// * `& [o(]* value o value`: `OR 1=1`, `AND 'a'='a'`, `OR NOT (2>1)`.
/// * `& name o value`: `OR x=1`, `AND id IN (...)`.
/// * `& f(`: `AND SLEEP(5)`.
/// * `& ( E`: `AND (SELECT ...)`.
/// * `B 1|n` then `,` or a comment or the end: `ORDER BY 3--`.
/// * `HAVING`-like keyword then a comparison that ends there or goes on as
///   SQL: `HAVING 1=1--`, `WHERE 1=1 OR`, not prose like `where 1 = 1 in logic`.
/// * `o ( E` or `o f(`: `+ (SELECT ...)`, `|| SLEEP(5)`.
const COMMON: &str = r"U(?:k|\()*E(?:[1svfok(]|n[,k)c])|;E(?:[1svfok(B?]|n[,k(s1v?]|n?$|c)|;kv|&(?:o|\()*[1sv]o[1svnf(o]|&(?:o|\()*no[1sv(f]|&(?:o|\()*f\(|&\(*E|B[1n](?:,|c|$|\))|k[1sn]o(?:\(|[1sv](?:$|[c&;)]|o[1sv(]))|o\(+E|of\(";

fn shapes() -> Option<&'static Shapes> {
    static S: OnceLock<Option<Shapes>> = OnceLock::new();
    S.get_or_init(|| {
        let bare = Regex::new(&format!(
            r"^((?:[1v]\)*|\)+)?)(?:{COMMON}|&[1sv]o)|^()(?:\(+E(?:ok|f\(|[1v][,k]|n,|$))"
        ));
        // After the closing quote: also `OR 1`, `OR 'x'`, `OR TRUE--`, a bare
        // comment (`admin'--`), a comparison that keeps the quotes balanced
        // (`'='`, `' = 'x' OR`), an operator cut short by a comment
        // (`' COLLATE nocase--`, `' NOTNULL --`), and a bare `UNION SELECT`.
        let quoted = Regex::new(&format!(
            r"^(s\)*)(?:{COMMON}|&[1sv](?:c|;|$)|c$|o[1sv](?:&|c|;|$)|o[1svn]?c|;c?$|U(?:k|\()*E(?:c|$))"
        ));
        match (bare, quoted) {
            (Ok(bare), Ok(quoted)) => Some(Shapes { bare, quoted }),
            (Err(e), _) | (_, Err(e)) => {
                tracing::error!("sqli shapes failed to compile: {e}");
                None
            }
        }
    })
    .as_ref()
}

fn check_reading(s: &[u8], ctx: QuoteContext, joined: bool) -> Option<Finding> {
    check_reading_with(s, ctx, joined, true).or_else(|| {
        // `\'` closes the string for databases without backslash escapes,
        // and is how an injection gets past an application that escapes
        // quotes but not backslashes: read that way too when it occurs.
        let q = if ctx == QuoteContext::Double {
            b'"'
        } else {
            b'\''
        };
        let first = memchr::memchr(q, s)?;
        (ctx != QuoteContext::None && first > 0 && s.get(first - 1) == Some(&b'\\'))
            .then(|| check_reading_with(s, ctx, joined, false))
            .flatten()
    })
}

fn check_reading_with(
    s: &[u8],
    ctx: QuoteContext,
    joined: bool,
    backslash: bool,
) -> Option<Finding> {
    let shapes = shapes()?;
    let toks = tokenize_with(s, ctx, backslash);
    let (fp, n) = toks.fingerprint();
    let fp = fp.get(..n).unwrap_or_default();
    let re = if ctx == QuoteContext::None {
        &shapes.bare
    } else {
        &shapes.quoted
    };
    // `is_match` first: it allocates nothing, and almost every value fails.
    if !re.is_match(fp) {
        return None;
    }
    let caps = re.captures(fp)?;
    let m = caps.get(0)?;
    let prefix = caps.get(1).or_else(|| caps.get(2)).map_or(0, |g| g.len());
    let first = toks.toks.get(prefix.min(toks.len.saturating_sub(1)))?;
    // Up to the last token read: a trailing comment is part of the story.
    let last = toks.toks.get(toks.len.max(m.end()).saturating_sub(1))?;
    Some(Finding {
        context: ctx,
        fingerprint: String::from_utf8_lossy(fp).into_owned(),
        range: first.start..last.end.max(first.start),
        joined,
    })
}

/// Look for an injection shape in `input` in the three quote contexts,
/// then (if it holds `/*`) in a copy without its comments, which is left in
/// `scratch`.
pub fn check(input: &[u8], scratch: &mut Vec<u8>) -> Option<Finding> {
    if let Some(f) = check_all(input, false) {
        return Some(f);
    }
    memchr::memmem::find(input, b"/*")?;
    scratch.clear();
    // Where a comment was cut out between two word bytes (`DR/**/OP`).
    let mut joins = [0usize; MAX_JOINS];
    let mut n_joins = 0;
    let mut i = 0;
    while let Some(&b) = input.get(i) {
        if b == b'/' && input.get(i + 1) == Some(&b'*') && input.get(i + 2) != Some(&b'!') {
            match memchr::memmem::find(input.get(i + 2..).unwrap_or_default(), b"*/") {
                Some(p) => {
                    i += 2 + p + 2;
                    let glued = scratch.last().is_some_and(|&c| c.is_ascii_alphabetic())
                        && input.get(i).is_some_and(u8::is_ascii_alphabetic);
                    if glued {
                        if let Some(slot) = joins.get_mut(n_joins) {
                            *slot = scratch.len();
                            n_joins += 1;
                        }
                    }
                }
                None => break,
            }
        } else {
            scratch.push(b);
            i += 1;
        }
    }
    check_all(scratch, true).or_else(|| split_keyword(scratch, joins.get(..n_joins)?))
}

/// Bytes whose values [`inert_over`] can vouch for: hex digits, dots,
/// colons, commas and spaces (addresses, ids and lists of them).
fn address_byte(b: u8) -> bool {
    b.is_ascii_hexdigit() || matches!(b, b'.' | b':' | b',' | b' ')
}

/// The token kinds a value of [`address_byte`]s reads as: numbers (`1`,
/// `0b1`, `1e5`, `.5`), bare words (every other byte run: no keyword is
/// spelt with the letters A to F), `:` as an operator and `,`. No quote,
/// `@`, parenthesis, comment or keyword can occur, so no folding applies.
fn address_kind(k: u8) -> bool {
    matches!(k, b'1' | b'n' | b'o' | b',')
}

/// Whether [`check`] can never flag a value made only of bytes for which
/// `class` holds (see [`super::inert`]): the class must hold nothing but
/// [`address_byte`]s, and then neither shape regex can match any
/// fingerprint of [`address_kind`]s (decided on the shapes themselves, so a
/// new shape is taken into account). Every reading of such a value is the
/// bare one: the quoted readings need a quote, the comment-free one `/*`.
pub fn inert_over(class: impl Fn(u8) -> bool) -> bool {
    if !(0..=255u8).all(|b| !class(b) || address_byte(b)) {
        return false;
    }
    let Some(shapes) = shapes() else {
        return false;
    };
    [&shapes.bare, &shapes.quoted]
        .iter()
        .all(|re| !super::inert::pattern_may_match(re.as_str(), &address_kind))
}

/// Comments cut out of one word, kept track of per value.
const MAX_JOINS: usize = 8;

/// A statement, set or logic keyword spelt across a comment (`DR/**/OP`,
/// `UN/*x*/ION`, `S/**/ELECT`): no SQL engine reads that as the keyword, so
/// it is written only for filters that strip comments, which is evasion
/// whatever follows. `joins` are the offsets in the comment-free `s` where
/// a comment sat between two letters (in order); a word may span several
/// of them (`S/**/EL/**/ECT`) or end at one (`DR/**/OP/*x*/table`).
fn split_keyword(s: &[u8], joins: &[usize]) -> Option<Finding> {
    let alnum = |i: usize| s.get(i).is_some_and(u8::is_ascii_alphanumeric);
    let mut k = 0;
    while let Some(&j) = joins.get(k) {
        // The run of letters holding this join, and every join inside it.
        let mut start = j;
        while start > 0 && alnum(start - 1) {
            start -= 1;
        }
        let mut end = j;
        while alnum(end) {
            end += 1;
        }
        let mut cuts = [0usize; MAX_JOINS + 2];
        let mut n = 0;
        let inner = joins.iter().copied().skip(k).take_while(|&c| c < end);
        for c in std::iter::once(start)
            .chain(inner)
            .chain(std::iter::once(end))
        {
            if let Some(slot) = cuts.get_mut(n) {
                *slot = c;
                n += 1;
            }
        }
        // The next run starts at the first join past this one.
        k = joins.iter().position(|&c| c >= end).unwrap_or(joins.len());
        let cuts = cuts.get(..n).unwrap_or_default();
        // Pieces from cut `a` to cut `c` that span at least one join.
        for (a, &from) in cuts.iter().enumerate() {
            for &to in cuts.iter().skip(a + 2) {
                let w = s.get(from..to).unwrap_or_default();
                if w.len() > 16 {
                    break;
                }
                let (kind, _) = classify(&w.to_ascii_uppercase());
                if matches!(kind, b'E' | b'U' | b'&') {
                    return Some(Finding {
                        context: QuoteContext::None,
                        fingerprint: String::from(char::from(kind)),
                        range: from..s.len().min(to + 32),
                        joined: true,
                    });
                }
            }
        }
    }
    None
}

fn check_all(s: &[u8], joined: bool) -> Option<Finding> {
    // A quoted reading needs that quote in the value: without it the whole
    // value is one unterminated string, which is harmless.
    check_reading(s, QuoteContext::None, joined)
        .or_else(|| {
            memchr::memchr(b'\'', s).and_then(|_| check_reading(s, QuoteContext::Single, joined))
        })
        .or_else(|| {
            memchr::memchr(b'"', s).and_then(|_| check_reading(s, QuoteContext::Double, joined))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fp(s: &str, ctx: QuoteContext) -> String {
        let (fp, n) = tokenize(s.as_bytes(), ctx).fingerprint();
        String::from_utf8(fp[..n].to_vec()).unwrap()
    }
    fn hit(s: &str) -> Option<Finding> {
        check(s.as_bytes(), &mut Vec::new())
    }

    proptest::proptest! {
        /// What `inert_over` relies on: a value of address bytes reads as
        /// numbers, words, operators and commas only, in every context it
        /// is read in.
        #[test]
        fn address_values_read_as_address_kinds(
            v in proptest::collection::vec(
                proptest::sample::select(
                    (0..=255u8).filter(|&b| address_byte(b)).collect::<Vec<u8>>()
                ),
                0..60,
            )
        ) {
            let (fp, n) = tokenize(&v, QuoteContext::None).fingerprint();
            proptest::prop_assert!(fp[..n].iter().all(|&k| address_kind(k)), "{:?}", &fp[..n]);
            proptest::prop_assert!(check(&v, &mut Vec::new()).is_none());
        }
    }

    /// The shape check in `inert_over` is not vacuous: one more kind (a
    /// logic keyword, a string) and a shape can match.
    #[test]
    fn address_kinds_are_one_kind_short_of_a_shape() {
        let shapes = shapes().unwrap();
        let may = |extra: &[u8]| {
            crate::detect::inert::pattern_may_match(shapes.bare.as_str(), &|k| {
                address_kind(k) || extra.contains(&k)
            })
        };
        assert!(!may(b"1"));
        assert!(may(b"&"));
        // `UNION SELECT` needs both keywords.
        assert!(!may(b"U") && !may(b"E") && may(b"UE"));
        assert!(crate::detect::inert::pattern_may_match(
            shapes.quoted.as_str(),
            &|k| { address_kind(k) || k == b's' }
        ));
    }

    /// Every keyword `classify` knows holds a byte that is not an address
    /// byte, so a word of address bytes is always a bare name. Read from
    /// this file's source, so a keyword added later is checked too.
    #[test]
    fn every_keyword_holds_a_non_address_byte() {
        let src = include_str!("sqli.rs");
        let body = src
            .split_once("fn classify(upper: &[u8]) -> (u8, Word) {")
            .and_then(|(_, rest)| rest.split_once("\n}\n"))
            .map(|(body, _)| body)
            .unwrap();
        let keywords: Vec<&str> = body
            .split("b\"")
            .skip(1)
            .filter_map(|s| s.split_once('"').map(|(k, _)| k))
            .collect();
        assert!(keywords.len() > 80, "{keywords:?}");
        for k in &keywords {
            assert_ne!(classify(k.as_bytes()).0, b'n', "{k} is a keyword");
            assert!(
                !k.bytes().all(address_byte),
                "{k} is spelt in address bytes"
            );
        }
    }

    /// No keyword is spelt with the letters A to F (every such word up to
    /// eight letters; the keywords are all shorter or hold other letters).
    #[test]
    fn no_keyword_in_hex_letters() {
        let mut w = Vec::new();
        fn walk(w: &mut Vec<u8>, left: usize) {
            if !w.is_empty() {
                assert_eq!(classify(w).0, b'n', "{}", String::from_utf8_lossy(w));
            }
            if left == 0 {
                return;
            }
            for b in b'A'..=b'F' {
                w.push(b);
                walk(w, left - 1);
                w.pop();
            }
        }
        walk(&mut w, 8);
    }

    #[test]
    fn shapes_compile() {
        assert!(shapes().is_some());
    }

    #[test]
    fn token_types() {
        use QuoteContext::None as N;
        assert_eq!(fp("1 UNION SELECT a,b FROM t", N), "1UEn,nkn");
        assert_eq!(fp("'abc' or \"x\" = @v", N), "s&sov");
        assert_eq!(fp("@@version", N), "v");
        assert_eq!(fp("sleep (5)", N), "f(1)");
        assert_eq!(fp("`users`.`pass` ; x", N), "n;n");
        assert_eq!(fp("a.b <=> c", N), "non");
        assert_eq!(fp("order by 2", N), "B1");
        assert_eq!(fp("union all select", N), "UE");
        assert_eq!(fp("x is not null", N), "no1");
        assert_eq!(fp("[x]", N), "?n?");
    }

    #[test]
    fn numbers_fold() {
        use QuoteContext::None as N;
        assert_eq!(fp("0x41424344", N), "1");
        assert_eq!(fp("0b0101", N), "1");
        assert_eq!(fp("1e1", N), "1");
        assert_eq!(fp("1.5e-3", N), "1");
        assert_eq!(fp(".5", N), "1");
        assert_eq!(fp("-1", N), "1");
        assert_eq!(fp("1-2", N), "1");
        assert_eq!(fp("3*4+5", N), "1");
        assert_eq!(fp("1=-1", N), "1o1");
        // Scientific notation glued to a keyword is still two tokens.
        assert_eq!(fp("1e1union select", N), "1UE");
        assert_eq!(fp("x'4142'", N), "s");
    }

    #[test]
    fn comments() {
        use QuoteContext::None as N;
        assert_eq!(fp("1 -- x", N), "1c");
        assert_eq!(fp("1 # x", N), "1c");
        assert_eq!(fp("1 /* x */", N), "1c");
        // Inside: whitespace. After a line break: code again.
        assert_eq!(fp("1/**/or/**/1=1", N), "1&1o1");
        assert_eq!(fp("1 union-- x\nselect 1", N), "1UE1");
        // MySQL executable comments are code.
        assert_eq!(fp("1 /*!50000union*/ /*!select*/ 1", N), "1UE1");
        // An unterminated comment runs to the end.
        assert_eq!(fp("1 /* or 1=1", N), "1c");
    }

    #[test]
    fn quote_contexts() {
        assert_eq!(fp("x' or '1'='1", QuoteContext::Single), "s&sos");
        assert_eq!(fp("x\" or \"1\"=\"1", QuoteContext::Double), "s&sos");
        assert_eq!(fp("O'Brien", QuoteContext::Single), "sn");
        // Escaped quotes stay inside the string.
        assert_eq!(fp("a\\'b' or 1=1", QuoteContext::Single), "s&1o1");
        assert_eq!(fp("a''b' or 1=1", QuoteContext::Single), "s&1o1");
    }

    #[test]
    fn detects_injections() {
        for (s, ctx) in [
            ("1 OR 1=1", QuoteContext::None),
            ("1) or (1=1", QuoteContext::None),
            ("-1 UNION SELECT 1,2,3--", QuoteContext::None),
            ("1 union all select null,@@version", QuoteContext::None),
            ("1 AND SLEEP(5)", QuoteContext::None),
            ("1;DROP TABLE users", QuoteContext::None),
            ("1; exec master..xp_cmdshell 'dir'", QuoteContext::None),
            ("1 and 1=(select count(*) from t)", QuoteContext::None),
            ("1 order by 3--", QuoteContext::None),
            ("(select * from users)", QuoteContext::None),
            ("union select 1,2", QuoteContext::None),
            ("' OR '1'='1", QuoteContext::Single),
            ("admin'--", QuoteContext::Single),
            ("admin' #", QuoteContext::Single),
            ("admin')--", QuoteContext::Single),
            ("x' or 1=1#", QuoteContext::Single),
            ("x' OR TRUE--", QuoteContext::Single),
            ("x' or 1", QuoteContext::Single),
            ("x') or ('a'='a", QuoteContext::Single),
            ("x' and sleep(5) and 'a'='a", QuoteContext::Single),
            (
                "x' union select username, password from users--",
                QuoteContext::Single,
            ),
            ("x'; drop table users--", QuoteContext::Single),
            ("x' || pg_sleep(5)--", QuoteContext::Single),
            ("x'+(select 1)+'", QuoteContext::Single),
            ("x'='", QuoteContext::Single),
            ("x' having 1=1--", QuoteContext::Single),
            ("x' order by 1--", QuoteContext::Single),
            ("x\" or \"\"=\"", QuoteContext::Double),
            ("x\" union select 1--", QuoteContext::Double),
            ("1' and char(65)=char(65)--", QuoteContext::Single),
            ("x' and 1 in (select 1)--", QuoteContext::Single),
            ("x'; waitfor delay '0:0:5'--", QuoteContext::Single),
            ("x' and not 1=2--", QuoteContext::Single),
            ("a@b.example\\' or json_valid (id);", QuoteContext::Single),
            ("user'collate nocase--", QuoteContext::Single),
            ("x' notnull --", QuoteContext::Single),
        ] {
            let f = hit(s).unwrap_or_else(|| panic!("missed {s:?}"));
            assert_eq!(f.context, ctx, "{s:?}: {f:?}");
        }
    }

    #[test]
    fn evasions() {
        for s in [
            "1 UnIoN SeLeCt 1,2",
            "1/**/union/**/select/**/1,2",
            "1 UN/**/ION SEL/**/ECT 1,2",
            "1 /*!50000UNION*/ /*!50000SELECT*/ 1,2",
            "1\nunion\nselect\n1,2",
            "1\tOR\t1=1",
            "1 union-- x\nselect 1,2",
            "1 union# x\nselect 1,2",
            "0x1 union select 0x414243",
            "1e1union select 1",
            "1 || 1=1",
            "1 && 1=1",
            "x' union select `password` from `users`-- ",
            "x' union select char(97,100,109,105,110)--",
            "x'/**/or/**/1/**/=/**/1#",
            "1;select pg_sleep(5)",
            "1 and @@version like '5%'",
            "x' or 'a' like 'a",
            "1 or x between 1 and 2",
        ] {
            assert!(hit(s).is_some(), "missed {s:?}");
        }
    }

    #[test]
    fn joined_finding_points_into_scratch() {
        let input = b"1 UN/**/ION SEL/**/ECT 1,2";
        let mut scratch = Vec::new();
        let f = check(input, &mut scratch).unwrap();
        assert!(f.joined);
        assert_eq!(f.matched(input, &scratch), b"UNION SELECT 1,2");
    }

    #[test]
    fn matched_starts_at_the_injection() {
        let input = b"admin' or 1=1--";
        let f = check(input, &mut Vec::new()).unwrap();
        assert_eq!(f.fingerprint, "s&1o1c");
        assert_eq!(f.matched(input, &[]), b"or 1=1--");
    }

    #[test]
    fn benign_near_misses() {
        for s in [
            "O'Brien",
            "Dan O'Brien's \"special\" plan",
            "select a plan",
            "where 1 = 1 in logic",
            "a filter like where x = 1 in the docs",
            "Select your plan",
            "drop shipping",
            "drop shipping; select a supplier",
            "1-2",
            "10-20",
            "$19.99",
            "19.99 - 5.00",
            "john.doe@example.com",
            "a < b and c > d",
            "tom and jerry",
            "salt and pepper",
            "cats or dogs",
            "2 or 3 items",
            "rock 'n' roll",
            "it's a 'test' or not",
            "Don't or won't",
            "issue #42",
            "C# and F#",
            "5' 11\"",
            "from 1 to 10",
            "the union of soviet socialist republics",
            "union select committee",
            "Where is the order by date option?",
            "if (a && b) { return x || y; }",
            "function f(x) { return x * 2; }",
            "SELECT",
            "update my profile",
            "delete account",
            "I'd like to order by phone",
            "user's guide: 1-2-3",
            "price >= 10 and price <= 20",
            "name=John&age=30",
            "(555) 123-4567",
            "2024-05-01T12:00:00Z",
            "{\"query\": \"hello world\", \"page\": 2}",
            "it's -- honestly -- fine",
            "he said \"yes\" and left",
            "\"or\" operator in logic",
            "'and' is a conjunction",
            // A whole statement is how people quote SQL in prose and
            // code questions; only a breakout out of a value is flagged.
            "select * from life where fun = true (just kidding)",
            "select count(*) from users",
            "back\\slash' and more text",
        ] {
            assert!(hit(s).is_none(), "flagged {s:?}: {:?}", hit(s));
        }
    }

    #[test]
    fn token_cap_bounds_work() {
        let long = "1+".repeat(10_000) + "1";
        // Folding keeps it one value: no shape, no panic.
        assert!(hit(&long).is_none());
        let many = "a ".repeat(10_000) + "or 1=1";
        // Past MAX_TOKENS: not seen by the tokenizer (regex rules remain).
        assert!(hit(&many).is_none());
        assert!(tokenize(many.as_bytes(), QuoteContext::None).len <= MAX_TOKENS);
    }

    #[test]
    fn arbitrary_bytes_do_not_panic() {
        for s in [
            &b"'"[..],
            b"\"",
            b"\\",
            b"/*",
            b"/*!",
            b"*/",
            b"@",
            b"@@",
            b"@'",
            b"`",
            b"0x",
            b"1e",
            b"1e+",
            b"x'",
            b"\xff\xfe'\x00",
            b"--",
            b"#",
        ] {
            let _ = check(s, &mut Vec::new());
        }
    }
}
