//! The models against the official OMOP CDM v5.4 field list (`OMOP_CDMv5.4_Field_Level.csv`): every column
//! of PERSON, DRUG_EXPOSURE, NOTE and PROVIDER is a field of its model under the same name, required
//! columns are never null, optional ones are nullable, and each column's JSON form fits its OMOP type.

use std::collections::BTreeSet;

use serde_json::Value;

use super::*;

const CSV_PATH: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/data/omop/OMOP_CDMv5.4_Field_Level.csv"
);

struct Column {
    table: String,
    field: String,
    required: bool,
    datatype: String,
}

/// RFC 4180 records: quoted fields may hold commas, doubled quotes and line breaks.
fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    let mut row = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => field.push(c),
            (false, '"') => quoted = true,
            (false, ',') => row.push(std::mem::take(&mut field)),
            (false, '\r') => {}
            (false, '\n') => {
                row.push(std::mem::take(&mut field));
                rows.push(std::mem::take(&mut row));
            }
            (false, c) => field.push(c),
        }
    }
    if !field.is_empty() || !row.is_empty() {
        row.push(field);
        rows.push(row);
    }
    rows
}

fn omop_columns() -> Vec<Column> {
    let text = std::fs::read_to_string(CSV_PATH).unwrap_or_else(|e| {
        panic!(
            "the OMOP CDM v5.4 field list is needed as the schema oracle, but {CSV_PATH} cannot be read ({e}); \
             put OMOP_CDMv5.4_Field_Level.csv (from github.com/OHDSI/CommonDataModel, inst/csv) there"
        )
    });
    let rows = parse_csv(text.trim_start_matches('\u{feff}'));
    let header = &rows[0];
    let col = |name: &str| {
        header
            .iter()
            .position(|h| h == name)
            .unwrap_or_else(|| panic!("no column {name} in {CSV_PATH}"))
    };
    let (t, f, r, d) = (
        col("cdmTableName"),
        col("cdmFieldName"),
        col("isRequired"),
        col("cdmDatatype"),
    );
    rows[1..]
        .iter()
        .filter(|row| row.len() == header.len())
        .map(|row| Column {
            table: row[t].to_lowercase(),
            field: row[f].to_lowercase(),
            required: row[r].eq_ignore_ascii_case("yes"),
            datatype: row[d].to_lowercase(),
        })
        .collect()
}

/// (OMOP table, a sample with only required columns, a sample with every column, the non-OMOP fields).
fn models() -> Vec<(&'static str, Value, Value, Vec<&'static str>)> {
    let json = |v: Result<Value, serde_json::Error>| v.expect("model serializes");
    let names = [
        "given_name",
        "second_given_name",
        "family_name",
        "second_family_name",
    ];
    vec![
        (
            "person",
            json(serde_json::to_value(Patient {
                given_name: None,
                family_name: None,
                ..patient(1)
            })),
            json(serde_json::to_value(full_patient(1))),
            [names.as_slice(), &["national_id"]].concat(),
        ),
        (
            "drug_exposure",
            json(serde_json::to_value(drug(1, 1))),
            json(serde_json::to_value(full_drug(1, 1))),
            vec![],
        ),
        (
            "note",
            json(serde_json::to_value(note(1, 1))),
            json(serde_json::to_value(full_note(1, 1))),
            vec![],
        ),
        (
            "provider",
            json(serde_json::to_value(doctor(1, "a@b.cu"))),
            json(serde_json::to_value(full_doctor(1, "a@b.cu"))),
            [names.as_slice(), &["email", "certificate"]].concat(),
        ),
    ]
}

#[test]
fn every_omop_column_is_a_model_field_with_the_right_nullability_and_type() {
    let columns = omop_columns();
    for (table, minimal, full, extras) in models() {
        let table_columns: Vec<&Column> = columns.iter().filter(|c| c.table == table).collect();
        let expected_count = match table {
            "person" => 18,
            "drug_exposure" => 23,
            "note" => 16,
            "provider" => 13,
            _ => unreachable!(),
        };
        assert_eq!(
            table_columns.len(),
            expected_count,
            "{table}: columns in the CSV"
        );
        let (Value::Object(minimal), Value::Object(full)) = (&minimal, &full) else {
            panic!("{table}: not an object")
        };

        for column in &table_columns {
            let name = column.field.as_str();
            let at = format!("{table}.{name} ({})", column.datatype);
            let value = minimal
                .get(name)
                .unwrap_or_else(|| panic!("{at} is not a field of the model"));
            if column.required {
                assert!(
                    !value.is_null(),
                    "{at} is required but the model lets it be null"
                );
            } else {
                assert!(
                    value.is_null(),
                    "{at} is optional but the model does not make it an Option"
                );
            }
            let value = &full[name];
            let fits = match column.datatype.as_str() {
                "integer" | "bigint" => value.is_i64(),
                "date" => value.as_str().is_some_and(|s| s.parse::<Date>().is_ok()),
                "datetime" => value
                    .as_str()
                    .is_some_and(|s| s.parse::<DateTime>().is_ok()),
                "float" => value.as_str().is_some_and(|s| s.parse::<Decimal>().is_ok()),
                t if t.starts_with("varchar") => value.is_string(),
                other => panic!("{at}: unexpected OMOP type {other}"),
            };
            assert!(fits, "{at}: {value} does not fit the OMOP type");
        }

        // Nothing else, except the documented additions.
        let omop: BTreeSet<&str> = table_columns.iter().map(|c| c.field.as_str()).collect();
        let beyond: BTreeSet<&str> = full
            .keys()
            .map(String::as_str)
            .filter(|k| !omop.contains(k))
            .collect();
        assert_eq!(
            beyond,
            extras.into_iter().collect(),
            "{table}: fields beyond OMOP"
        );
        assert!(
            full.values().all(|v| !v.is_null()),
            "{table}: the full sample sets every field"
        );
    }
}

#[test]
fn the_csv_reader_handles_quotes_commas_and_line_breaks() {
    let rows = parse_csv("a,b,c\r\n\"x, y\",\"say \"\"hi\"\"\",\"two\nlines\"\nlast,,");
    assert_eq!(
        rows,
        [
            vec!["a", "b", "c"],
            vec!["x, y", "say \"hi\"", "two\nlines"],
            vec!["last", "", ""]
        ]
    );
}
