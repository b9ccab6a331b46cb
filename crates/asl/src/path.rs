//! The JSONPath subset ASL uses.
//!
//! A path starts with `$` (the state's input, or whatever document the field
//! applies to) or `$$` (the context object), followed by any number of:
//!
//! * `.name` or `['name']` / `["name"]`: an object field;
//! * `[n]`: an array element (a negative `n` counts from the end);
//! * `[*]` or `.*`: every element of an array (every value of an object);
//! * `[a:b]`, `[a:]`, `[:b]`: a slice of an array.
//!
//! A *definite* path (no wildcard, no slice) selects at most one value. An
//! *indefinite* one selects the array of all its matches, in document order.
//! A *reference* path (as `ResultPath` requires) has only field names and
//! indexes.

use crate::Refused;
use serde_json::{Map, Value};

/// Which document a path applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Root {
    /// `$`: the input of the field.
    Input,
    /// `$$`: the context object.
    Context,
}

/// One step of a path.
#[derive(Debug, Clone, PartialEq)]
enum Segment {
    Field(String),
    Index(i64),
    Wildcard,
    Slice(Option<i64>, Option<i64>),
}

/// A parsed JSONPath.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Path {
    text: String,
    root: Root,
    segments: Vec<Segment>,
}

impl Path {
    /// Parses `text`; the error says what is wrong with it.
    pub(crate) fn parse(text: &str) -> Result<Path, Refused> {
        let (root, rest) = if let Some(rest) = text.strip_prefix("$$") {
            (Root::Context, rest)
        } else if let Some(rest) = text.strip_prefix('$') {
            (Root::Input, rest)
        } else {
            return Err(format!("`{text}` is not a path: it must start with `$`").into());
        };
        let chars: Vec<char> = rest.chars().collect();
        let mut segments = Vec::new();
        let mut i = 0;
        let bad = |what: String| Refused(format!("`{text}` is not a valid path: {what}"));
        while i < chars.len() {
            match chars[i] {
                '.' => {
                    i += 1;
                    match chars.get(i) {
                        Some('.') => {
                            return Err(bad("recursive descent (`..`) is not supported".into()));
                        }
                        Some('*') => {
                            segments.push(Segment::Wildcard);
                            i += 1;
                        }
                        _ => {
                            let start = i;
                            while i < chars.len() && chars[i] != '.' && chars[i] != '[' {
                                let c = chars[i];
                                if c.is_whitespace() || "]'\"(),?@*$".contains(c) {
                                    return Err(bad(format!("unexpected `{c}` in a field name")));
                                }
                                i += 1;
                            }
                            if i == start {
                                return Err(bad("empty field name after `.`".into()));
                            }
                            segments.push(Segment::Field(chars[start..i].iter().collect()));
                        }
                    }
                }
                '[' => {
                    i += 1;
                    skip_spaces(&chars, &mut i);
                    match chars.get(i) {
                        Some(&quote @ ('\'' | '"')) => {
                            i += 1;
                            let mut name = String::new();
                            loop {
                                match chars.get(i) {
                                    None => return Err(bad("unterminated quoted name".into())),
                                    Some('\\') => {
                                        match chars.get(i + 1) {
                                            Some(&c) => name.push(c),
                                            None => {
                                                return Err(bad("unterminated quoted name".into()));
                                            }
                                        }
                                        i += 2;
                                    }
                                    Some(&c) if c == quote => {
                                        i += 1;
                                        break;
                                    }
                                    Some(&c) => {
                                        name.push(c);
                                        i += 1;
                                    }
                                }
                            }
                            segments.push(Segment::Field(name));
                        }
                        Some('*') => {
                            i += 1;
                            segments.push(Segment::Wildcard);
                        }
                        Some('?' | '(') => {
                            return Err(bad(
                                "filter and script expressions are not supported".into()
                            ));
                        }
                        _ => {
                            let start = i;
                            while i < chars.len() && chars[i] != ']' {
                                i += 1;
                            }
                            let inner: String = chars[start..i].iter().collect();
                            segments.push(parse_subscript(inner.trim()).map_err(|e| bad(e.0))?);
                        }
                    }
                    skip_spaces(&chars, &mut i);
                    if chars.get(i) != Some(&']') {
                        return Err(bad("expected `]`".into()));
                    }
                    i += 1;
                }
                c => return Err(bad(format!("unexpected `{c}`"))),
            }
        }
        Ok(Path {
            text: text.to_owned(),
            root,
            segments,
        })
    }

    /// The path as written.
    pub(crate) fn text(&self) -> &str {
        &self.text
    }

    /// Which document the path applies to.
    pub(crate) fn root(&self) -> Root {
        self.root
    }

    /// Whether the path selects at most one value.
    pub(crate) fn is_definite(&self) -> bool {
        self.segments
            .iter()
            .all(|s| matches!(s, Segment::Field(_) | Segment::Index(_)))
    }

    /// Whether the path is a reference path: `$` or `$.a.b[0]`…, nothing that
    /// can select several values.
    pub(crate) fn is_reference(&self) -> bool {
        self.root == Root::Input && self.is_definite()
    }

    /// Whether the path is `$` itself.
    pub(crate) fn is_root(&self) -> bool {
        self.segments.is_empty()
    }

    /// What the path selects in `doc`: `None` when a definite path matches
    /// nothing; the (possibly empty) array of matches for an indefinite one.
    pub(crate) fn find(&self, doc: &Value) -> Option<Value> {
        if self.is_definite() {
            let mut current = doc;
            for segment in &self.segments {
                current = match segment {
                    Segment::Field(name) => current.as_object()?.get(name)?,
                    Segment::Index(index) => {
                        let items = current.as_array()?;
                        &items[resolve_index(*index, items.len())?]
                    }
                    Segment::Wildcard | Segment::Slice(..) => return None,
                };
            }
            return Some(current.clone());
        }
        let mut current = vec![doc];
        for segment in &self.segments {
            let mut next = Vec::new();
            for value in current {
                match (segment, value) {
                    (Segment::Field(name), Value::Object(map)) => next.extend(map.get(name)),
                    (Segment::Index(index), Value::Array(items)) => {
                        next.extend(resolve_index(*index, items.len()).map(|i| &items[i]));
                    }
                    (Segment::Wildcard, Value::Array(items)) => next.extend(items.iter()),
                    (Segment::Wildcard, Value::Object(map)) => next.extend(map.values()),
                    (Segment::Slice(start, end), Value::Array(items)) => {
                        let (from, to) = slice_bounds(*start, *end, items.len());
                        next.extend(items[from..to].iter());
                    }
                    _ => {}
                }
            }
            current = next;
        }
        Some(Value::Array(current.into_iter().cloned().collect()))
    }

    /// Writes `value` at this (reference) path in `doc`, creating the missing
    /// objects on the way, and returns the updated document.
    pub(crate) fn set(&self, mut doc: Value, value: Value) -> Result<Value, Refused> {
        set_in(&mut doc, &self.segments, value).map_err(|why| {
            format!(
                "Unable to apply ResultPath '{}' to the input: {why}",
                self.text
            )
        })?;
        Ok(doc)
    }
}

fn skip_spaces(chars: &[char], i: &mut usize) {
    while chars.get(*i).is_some_and(|c| c.is_whitespace()) {
        *i += 1;
    }
}

/// Parses what is between brackets when it is not quoted nor `*`.
fn parse_subscript(inner: &str) -> Result<Segment, Refused> {
    let int = |s: &str| -> Result<Option<i64>, Refused> {
        let s = s.trim();
        if s.is_empty() {
            return Ok(None);
        }
        s.parse::<i64>().map(Some).map_err(|_| {
            Refused::from(format!(
                "`[{inner}]` is not an index, a slice, `*` or a quoted name"
            ))
        })
    };
    if let Some((start, end)) = inner.split_once(':') {
        if end.contains(':') {
            return Err("slices with a step are not supported".into());
        }
        return Ok(Segment::Slice(int(start)?, int(end)?));
    }
    match int(inner)? {
        Some(index) => Ok(Segment::Index(index)),
        None => Err("empty brackets".into()),
    }
}

/// The position `index` designates in an array of `len` elements.
fn resolve_index(index: i64, len: usize) -> Option<usize> {
    let len = i64::try_from(len).ok()?;
    let index = if index < 0 { len + index } else { index };
    (0..len).contains(&index).then_some(index as usize)
}

/// The clamped `[from, to)` range a slice designates.
fn slice_bounds(start: Option<i64>, end: Option<i64>, len: usize) -> (usize, usize) {
    let len_i = i64::try_from(len).unwrap_or(i64::MAX);
    let clamp = |bound: i64| -> usize {
        let bound = if bound < 0 { len_i + bound } else { bound };
        bound.clamp(0, len_i) as usize
    };
    let from = start.map_or(0, clamp);
    let to = end.map_or(len, clamp);
    (from, to.max(from))
}

fn set_in(target: &mut Value, segments: &[Segment], value: Value) -> Result<(), Refused> {
    let Some((first, rest)) = segments.split_first() else {
        *target = value;
        return Ok(());
    };
    match first {
        Segment::Field(name) => {
            let Value::Object(map) = target else {
                return Err(
                    format!("cannot set field `{name}` in {}", describe_type(target)).into(),
                );
            };
            if rest.is_empty() {
                map.insert(name.clone(), value);
                return Ok(());
            }
            let child = map
                .entry(name.clone())
                .or_insert_with(|| Value::Object(Map::new()));
            set_in(child, rest, value)
        }
        Segment::Index(index) => {
            let Value::Array(items) = target else {
                return Err(
                    format!("cannot set element [{index}] in {}", describe_type(target)).into(),
                );
            };
            let len = items.len();
            let position = resolve_index(*index, len).ok_or_else(|| {
                Refused::from(format!("index [{index}] is out of bounds (length {len})"))
            })?;
            set_in(&mut items[position], rest, value)
        }
        Segment::Wildcard | Segment::Slice(..) => {
            Err("a wildcard or a slice cannot be written to".into())
        }
    }
}

/// "a string", "an array"…, for messages.
pub(crate) fn describe_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn find(path: &str, doc: &Value) -> Option<Value> {
        Path::parse(path).unwrap().find(doc)
    }

    #[test]
    fn selects_fields_indexes_and_quoted_names() {
        let doc = json!({"a": {"b": [10, 20, {"c d": "x"}]}, "e.f": 1});
        assert_eq!(find("$", &doc), Some(doc.clone()));
        assert_eq!(find("$.a.b[1]", &doc), Some(json!(20)));
        assert_eq!(find("$.a.b[-1]['c d']", &doc), Some(json!("x")));
        assert_eq!(find("$['e.f']", &doc), Some(json!(1)));
        assert_eq!(find("$[\"a\"].b[0]", &doc), Some(json!(10)));
        assert_eq!(find("$.a.missing", &doc), None);
        assert_eq!(find("$.a.b[3]", &doc), None);
        assert_eq!(find("$.a.b.c", &doc), None);
    }

    #[test]
    fn projects_wildcards_and_slices() {
        let doc = json!({"items": [{"id": 1}, {"id": 2}, {"other": 3}, {"id": 4}]});
        assert_eq!(find("$.items[*].id", &doc), Some(json!([1, 2, 4])));
        assert_eq!(find("$.items.*.id", &doc), Some(json!([1, 2, 4])));
        assert_eq!(
            find("$.items[1:3]", &doc),
            Some(json!([{"id": 2}, {"other": 3}]))
        );
        assert_eq!(find("$.items[-1:]", &doc), Some(json!([{"id": 4}])));
        assert_eq!(find("$.nothing[*].id", &doc), Some(json!([])));
        assert_eq!(find("$.items[*].missing", &doc), Some(json!([])));
    }

    #[test]
    fn distinguishes_roots_and_kinds() {
        let context = Path::parse("$$.Execution.Name").unwrap();
        assert_eq!(context.root(), Root::Context);
        assert!(!context.is_reference());
        assert!(Path::parse("$.a[0].b").unwrap().is_reference());
        assert!(!Path::parse("$.a[*]").unwrap().is_definite());
        assert!(Path::parse("$").unwrap().is_root());
    }

    #[test]
    fn rejects_malformed_paths() {
        for bad in [
            "a.b",
            "$.",
            "$..a",
            "$.a[?(@.b)]",
            "$.a[",
            "$.a[x]",
            "$.a b",
            "$['a",
            "$.a[1:2:3]",
        ] {
            assert!(Path::parse(bad).is_err(), "{bad} should be rejected");
        }
    }

    #[test]
    fn sets_nested_fields_creating_objects() {
        let path = Path::parse("$.a.b.c").unwrap();
        assert_eq!(
            path.set(json!({"x": 1, "a": {"y": 2}}), json!(true))
                .unwrap(),
            json!({"x": 1, "a": {"y": 2, "b": {"c": true}}})
        );
        let root = Path::parse("$").unwrap();
        assert_eq!(root.set(json!({"x": 1}), json!([1])).unwrap(), json!([1]));
        let index = Path::parse("$.list[1]").unwrap();
        assert_eq!(
            index.set(json!({"list": [0, 0]}), json!(9)).unwrap(),
            json!({"list": [0, 9]})
        );
    }

    #[test]
    fn refuses_to_set_inside_non_objects() {
        let path = Path::parse("$.a.b").unwrap();
        let err = path.set(json!({"a": "text"}), json!(1)).unwrap_err();
        assert!(err.0.contains("cannot set field `b` in a string"), "{err}");
        assert!(Path::parse("$.x").unwrap().set(json!(5), json!(1)).is_err());
        assert!(
            Path::parse("$.l[5]")
                .unwrap()
                .set(json!({"l": []}), json!(1))
                .is_err()
        );
    }
}
