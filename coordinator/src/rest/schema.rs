//! The admin API's protobuf messages as the REST API's JSON: read once from the descriptors
//! compiled into `lookout-proto`, to refuse unknown fields by their full path before a body
//! is decoded (pbjson refuses them too, but names only the field, not where it is), and to
//! describe every message as a JSON Schema, with its `.proto` comments, for the OpenAPI
//! document.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use lookout_proto::validate::FieldError;
use prost::Message as _;
use prost_types::field_descriptor_proto::{Label, Type};
use prost_types::{DescriptorProto, FileDescriptorSet};
use serde_json::{Map, Value, json};

use crate::error::field_error;

/// Every message and enum of package `lookout.v1`, by full name (`lookout.v1.Monitor`).
pub struct Messages {
    messages: BTreeMap<String, MessageDoc>,
    enums: BTreeMap<String, EnumDoc>,
}

struct MessageDoc {
    doc: String,
    fields: Vec<FieldDoc>,
}

struct EnumDoc {
    doc: String,
    values: Vec<String>,
}

struct FieldDoc {
    name: String,
    json_name: String,
    repeated: bool,
    kind: FieldKind,
    doc: String,
}

enum FieldKind {
    Scalar(Type),
    Enum(String),
    Message(String),
}

/// Where a reference to component `name` points.
pub fn component_ref(name: &str) -> Value {
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

impl Messages {
    /// Reads the descriptor set compiled into `lookout-proto`.
    pub fn load() -> Messages {
        let set = FileDescriptorSet::decode(lookout_proto::FILE_DESCRIPTOR_SET)
            .expect("the descriptor set compiled into lookout-proto decodes");
        let mut out = Messages {
            messages: BTreeMap::new(),
            enums: BTreeMap::new(),
        };
        for file in set.file {
            let package = file.package.clone().unwrap_or_default();
            let comments: HashMap<Vec<i32>, String> = file
                .source_code_info
                .iter()
                .flat_map(|s| &s.location)
                .filter_map(|l| Some((l.path.clone(), l.leading_comments.clone()?)))
                .collect();
            let docs = Docs(&comments);
            for (i, m) in file.message_type.iter().enumerate() {
                out.add_message(&package, m, vec![4, index(i)], &docs);
            }
            for (i, e) in file.enum_type.iter().enumerate() {
                let name = format!("{package}.{}", e.name());
                out.enums.insert(
                    name,
                    EnumDoc {
                        doc: docs.at(&[5, index(i)]),
                        values: e.value.iter().map(|v| v.name().to_string()).collect(),
                    },
                );
            }
        }
        out
    }

    fn add_message(&mut self, scope: &str, m: &DescriptorProto, path: Vec<i32>, docs: &Docs<'_>) {
        let name = format!("{scope}.{}", m.name());
        for (i, nested) in m.nested_type.iter().enumerate() {
            let mut p = path.clone();
            p.extend([3, index(i)]);
            self.add_message(&name, nested, p, docs);
        }
        for (i, e) in m.enum_type.iter().enumerate() {
            let mut p = path.clone();
            p.extend([4, index(i)]);
            self.enums.insert(
                format!("{name}.{}", e.name()),
                EnumDoc {
                    doc: docs.at(&p),
                    values: e.value.iter().map(|v| v.name().to_string()).collect(),
                },
            );
        }
        let fields = m
            .field
            .iter()
            .enumerate()
            .map(|(i, f)| {
                let mut p = path.clone();
                p.extend([2, index(i)]);
                let type_name = f.type_name().trim_start_matches('.').to_string();
                FieldDoc {
                    name: f.name().to_string(),
                    json_name: f.json_name().to_string(),
                    repeated: f.label() == Label::Repeated,
                    kind: match f.r#type() {
                        Type::Message => FieldKind::Message(type_name),
                        Type::Enum => FieldKind::Enum(type_name),
                        t => FieldKind::Scalar(t),
                    },
                    doc: docs.at(&p),
                }
            })
            .collect();
        self.messages.insert(
            name,
            MessageDoc {
                doc: docs.at(&path),
                fields,
            },
        );
    }

    /// Refuses a key of `value` (JSON of message `message`, found at `path`) that is no field
    /// of its message, at any depth, naming it: `monitor.http.urll`. Values of the wrong JSON
    /// type are left to the decoder, which names them too.
    pub fn check_fields(&self, message: &str, value: &Value, path: &str) -> Result<(), FieldError> {
        let (Some(m), Value::Object(map)) = (self.messages.get(message), value) else {
            return Ok(());
        };
        for (key, v) in map {
            let at = format!("{path}.{key}");
            let Some(f) = m
                .fields
                .iter()
                .find(|f| f.name == *key || f.json_name == *key)
            else {
                let known: Vec<&str> = m.fields.iter().map(|f| f.name.as_str()).collect();
                return Err(field_error(
                    at,
                    format!(
                        "is not a field of {message}; its fields are {}",
                        known.join(", ")
                    ),
                ));
            };
            let FieldKind::Message(inner) = &f.kind else {
                continue;
            };
            match v {
                Value::Array(items) if f.repeated => {
                    for (i, item) in items.iter().enumerate() {
                        self.check_fields(inner, item, &format!("{at}[{i}]"))?;
                    }
                }
                item => self.check_fields(inner, item, &at)?,
            }
        }
        Ok(())
    }

    /// The fields of `message` (proto names), to check the tables that pick some of them.
    #[cfg(test)]
    pub fn field_names(&self, message: &str) -> Vec<&str> {
        self.messages
            .get(message)
            .map(|m| m.fields.iter().map(|f| f.name.as_str()).collect())
            .unwrap_or_default()
    }

    /// The JSON Schema of field `field` of `message`, with its description.
    pub fn field_schema(&self, message: &str, field: &str) -> Option<Value> {
        let f = self
            .messages
            .get(message)?
            .fields
            .iter()
            .find(|f| f.name == field)?;
        Some(self.described(f))
    }

    /// Components `roots` and every message and enum they reach, as JSON Schemas by name.
    pub fn components(&self, roots: &[&str]) -> Map<String, Value> {
        let mut seen = BTreeSet::new();
        let mut todo: Vec<String> = roots.iter().map(|r| r.to_string()).collect();
        let mut out = Map::new();
        while let Some(name) = todo.pop() {
            if !seen.insert(name.clone()) {
                continue;
            }
            if let Some(e) = self.enums.get(&name) {
                out.insert(
                    name,
                    with_doc(json!({ "type": "string", "enum": e.values }), &e.doc),
                );
                continue;
            }
            let Some(m) = self.messages.get(&name) else {
                continue;
            };
            let mut properties = Map::new();
            for f in &m.fields {
                if let FieldKind::Message(n) | FieldKind::Enum(n) = &f.kind {
                    todo.push(n.clone());
                }
                properties.insert(f.name.clone(), self.described(f));
            }
            let schema = json!({
                "type": "object",
                "additionalProperties": false,
                "properties": properties,
            });
            out.insert(name, with_doc(schema, &m.doc));
        }
        out
    }

    fn described(&self, f: &FieldDoc) -> Value {
        let one = match &f.kind {
            FieldKind::Message(n) | FieldKind::Enum(n) => component_ref(n),
            FieldKind::Scalar(t) => scalar(*t),
        };
        let schema = if f.repeated {
            json!({ "type": "array", "items": one })
        } else {
            one
        };
        with_doc(schema, &f.doc)
    }
}

/// proto3 JSON of a scalar: 64-bit integers are written as strings (and read from either).
fn scalar(t: Type) -> Value {
    match t {
        Type::Bool => json!({ "type": "boolean" }),
        Type::String => json!({ "type": "string" }),
        Type::Bytes => json!({ "type": "string", "contentEncoding": "base64" }),
        Type::Double | Type::Float => json!({ "type": "number" }),
        Type::Int64 | Type::Sint64 | Type::Sfixed64 => {
            json!({ "type": ["string", "integer"], "format": "int64" })
        }
        Type::Uint64 | Type::Fixed64 => {
            json!({ "type": ["string", "integer"], "format": "uint64" })
        }
        Type::Uint32 | Type::Fixed32 => json!({ "type": "integer", "format": "uint32" }),
        _ => json!({ "type": "integer", "format": "int32" }),
    }
}

/// `schema` with `doc` as its description; a `$ref` is wrapped, since 3.1 allows siblings of
/// `$ref` but some tools ignore them.
fn with_doc(schema: Value, doc: &str) -> Value {
    if doc.is_empty() {
        return schema;
    }
    if schema.get("$ref").is_some() {
        return json!({ "description": doc, "allOf": [schema] });
    }
    let mut schema = schema;
    if let Value::Object(m) = &mut schema {
        m.insert("description".into(), Value::String(doc.to_string()));
    }
    schema
}

/// The leading comments of a file's elements, by source path.
struct Docs<'a>(&'a HashMap<Vec<i32>, String>);

impl Docs<'_> {
    fn at(&self, path: &[i32]) -> String {
        self.0
            .get(path)
            .map(|c| {
                c.lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty())
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .unwrap_or_default()
    }
}

fn index(i: usize) -> i32 {
    i32::try_from(i).expect("a .proto file has fewer than 2^31 elements")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_fields_are_named_with_their_path() {
        let m = Messages::load();
        let ok = json!({"name": "x", "http": {"url": "https://a/", "headers": [{"name": "a"}]}});
        m.check_fields("lookout.v1.Monitor", &ok, "monitor")
            .expect("known fields");
        let camel = json!({"intervalSecs": 30});
        m.check_fields("lookout.v1.Monitor", &camel, "monitor")
            .expect("JSON names are fields too");
        let cases = [
            (json!({"nmae": "x"}), "monitor.nmae"),
            (json!({"http": {"urll": "x"}}), "monitor.http.urll"),
            (
                json!({"http": {"headers": [{"name": "a"}, {"nam": "b"}]}}),
                "monitor.http.headers[1].nam",
            ),
        ];
        for (v, field) in cases {
            let e = m
                .check_fields("lookout.v1.Monitor", &v, "monitor")
                .expect_err(field);
            assert_eq!(e.field, field);
        }
    }

    #[test]
    fn components_reach_every_nested_message_with_comments() {
        let m = Messages::load();
        let c = m.components(&["lookout.v1.Monitor"]);
        for name in [
            "lookout.v1.Monitor",
            "lookout.v1.HttpCheck",
            "lookout.v1.Header",
            "lookout.v1.QuorumMode",
        ] {
            assert!(c.contains_key(name), "{name} missing");
        }
        let interval = &c["lookout.v1.Monitor"]["properties"]["interval_secs"];
        assert_eq!(interval["type"], "integer");
        assert!(
            interval["description"]
                .as_str()
                .is_some_and(|d| d.contains("1..=86400")),
            "{interval}"
        );
    }
}
