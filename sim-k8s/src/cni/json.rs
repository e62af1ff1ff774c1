//! Reading plugin configs the way Go's `encoding/json` fills a struct: unknown keys are
//! ignored, `null` is the zero value, keys match case-insensitively when no exact match
//! exists, and a value of the wrong type is an error — here one naming the file and the
//! jq-style path of the value.

use serde_json::{Map, Value};

use super::error::CniError;

/// A JSON object being read, with where it is.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Obj<'a> {
    pub file: &'a str,
    pub path: &'a str,
    pub map: &'a Map<String, Value>,
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

pub(crate) fn invalid(file: &str, path: &str, message: impl Into<String>) -> CniError {
    CniError::Invalid {
        file: file.to_string(),
        path: path.to_string(),
        message: message.into(),
    }
}

/// `.key` appended to a path (the root path is empty).
pub(crate) fn child(path: &str, key: &str) -> String {
    format!("{path}.{key}")
}

/// `[i]` appended to a path.
pub(crate) fn index(path: &str, i: usize) -> String {
    format!("{path}[{i}]")
}

/// Parses text into a JSON value, or a [`CniError::Json`] with the position.
pub(crate) fn parse(file: &str, text: &str) -> Result<Value, CniError> {
    serde_json::from_str(text).map_err(|e| CniError::Json {
        file: file.to_string(),
        line: e.line(),
        column: e.column(),
        message: e.to_string(),
    })
}

/// The value as an object, or an error at `path`.
pub(crate) fn as_obj<'a>(file: &'a str, path: &'a str, v: &'a Value) -> Result<Obj<'a>, CniError> {
    match v {
        Value::Object(map) => Ok(Obj { file, path, map }),
        other => Err(invalid(
            file,
            if path.is_empty() { "." } else { path },
            format!("expected an object, found {}", type_name(other)),
        )),
    }
}

impl<'a> Obj<'a> {
    /// The value for `key` (exact match first, then case-insensitive), `null` as absent.
    pub fn get(&self, key: &str) -> Option<&'a Value> {
        let v = self.map.get(key).or_else(|| {
            self.map
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(key))
                .map(|(_, v)| v)
        })?;
        (!v.is_null()).then_some(v)
    }

    pub fn path_of(&self, key: &str) -> String {
        child(self.path, key)
    }

    fn wrong(&self, key: &str, want: &str, v: &Value) -> CniError {
        invalid(
            self.file,
            &self.path_of(key),
            format!("expected {want}, found {}", type_name(v)),
        )
    }

    pub fn str(&self, key: &str) -> Result<Option<&'a str>, CniError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(v) => Err(self.wrong(key, "a string", v)),
        }
    }

    pub fn bool(&self, key: &str) -> Result<Option<bool>, CniError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(v) => Err(self.wrong(key, "true or false", v)),
        }
    }

    /// An integer (a JSON number without a fraction, as Go's `int` requires).
    pub fn int(&self, key: &str) -> Result<Option<i64>, CniError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Number(n)) => match n.as_i64() {
                Some(i) => Ok(Some(i)),
                None => Err(invalid(
                    self.file,
                    &self.path_of(key),
                    format!("expected an integer, found {n}"),
                )),
            },
            Some(v) => Err(self.wrong(key, "an integer", v)),
        }
    }

    /// An unsigned 64-bit integer.
    pub fn u64(&self, key: &str) -> Result<Option<u64>, CniError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Number(n)) => match n.as_u64() {
                Some(i) => Ok(Some(i)),
                None => Err(invalid(
                    self.file,
                    &self.path_of(key),
                    format!("expected a non-negative integer, found {n}"),
                )),
            },
            Some(v) => Err(self.wrong(key, "a non-negative integer", v)),
        }
    }

    pub fn array(&self, key: &str) -> Result<Option<&'a Vec<Value>>, CniError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Array(a)) => Ok(Some(a)),
            Some(v) => Err(self.wrong(key, "an array", v)),
        }
    }

    /// An array of strings.
    pub fn strings(&self, key: &str) -> Result<Option<Vec<String>>, CniError> {
        let Some(a) = self.array(key)? else {
            return Ok(None);
        };
        let base = self.path_of(key);
        a.iter()
            .enumerate()
            .map(|(i, v)| match v {
                Value::String(s) => Ok(s.clone()),
                other => Err(invalid(
                    self.file,
                    &index(&base, i),
                    format!("expected a string, found {}", type_name(other)),
                )),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some)
    }

    /// A map of string to bool (`capabilities`).
    pub fn bool_map(&self, key: &str) -> Result<Vec<(String, bool)>, CniError> {
        let Some(v) = self.get(key) else {
            return Ok(Vec::new());
        };
        let base = self.path_of(key);
        let o = as_obj(self.file, &base, v)?;
        o.map
            .iter()
            .filter(|(_, v)| !v.is_null())
            .map(|(k, v)| match v {
                Value::Bool(b) => Ok((k.clone(), *b)),
                other => Err(invalid(
                    self.file,
                    &child(&base, k),
                    format!("expected true or false, found {}", type_name(other)),
                )),
            })
            .collect()
    }

    /// A parsed string value (addresses, CIDRs) with the parser's complaint on failure.
    pub fn parsed<T: std::str::FromStr>(
        &self,
        key: &str,
        what: &str,
    ) -> Result<Option<T>, CniError> {
        let Some(s) = self.str(key)? else {
            return Ok(None);
        };
        s.parse().map(Some).map_err(|_| {
            invalid(
                self.file,
                &self.path_of(key),
                format!("invalid {what}: {s:?}"),
            )
        })
    }
}
