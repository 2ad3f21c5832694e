//! A small RFC 4180 reader for IOC imports: comma-separated, fields optionally in double
//! quotes (`""` inside stands for `"`, and quoted fields may span lines), CRLF or LF, a UTF-8
//! byte-order mark ignored, blank lines skipped. Each record keeps the line it starts on, so
//! errors can name it.

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// 1-based line of the file where the record starts.
    pub line: usize,
    pub fields: Vec<String>,
}

/// Splits `text` into records; an unterminated quote is an error naming its line.
pub fn parse(text: &str) -> Result<Vec<Record>, (usize, String)> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut records = Vec::new();
    let mut fields: Vec<String> = Vec::new();
    let mut field = String::new();
    let mut in_quotes = false;
    let mut quoted_field = false;
    let mut line = 1;
    let mut record_line = 1;
    let mut chars = text.chars().peekable();
    let finish_record = |fields: &mut Vec<String>, field: &mut String, records: &mut Vec<Record>, at: usize| {
        fields.push(std::mem::take(field));
        let blank = fields.len() == 1 && fields[0].trim().is_empty();
        let taken = std::mem::take(fields);
        if !blank {
            records.push(Record { line: at, fields: taken });
        }
    };
    while let Some(c) = chars.next() {
        if in_quotes {
            match c {
                '"' if chars.peek() == Some(&'"') => {
                    chars.next();
                    field.push('"');
                }
                '"' => in_quotes = false,
                '\n' => {
                    line += 1;
                    field.push('\n');
                }
                _ => field.push(c),
            }
            continue;
        }
        match c {
            '"' if field.trim().is_empty() && !quoted_field => {
                field.clear();
                in_quotes = true;
                quoted_field = true;
            }
            ',' => {
                fields.push(std::mem::take(&mut field));
                quoted_field = false;
            }
            '\r' if chars.peek() == Some(&'\n') => {}
            '\n' | '\r' => {
                finish_record(&mut fields, &mut field, &mut records, record_line);
                quoted_field = false;
                line += 1;
                record_line = line;
            }
            _ => field.push(c),
        }
    }
    if in_quotes {
        return Err((record_line, "a quoted field is not closed".into()));
    }
    if !field.is_empty() || !fields.is_empty() {
        finish_record(&mut fields, &mut field, &mut records, record_line);
    }
    Ok(records)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(text: &str) -> Vec<(usize, Vec<String>)> {
        parse(text).unwrap().into_iter().map(|r| (r.line, r.fields)).collect()
    }

    #[test]
    fn plain_quoted_and_multiline() {
        let got = fields("\u{feff}Type,Value\r\nSha1,\"a,b\"\r\n\r\nUrl,\"say \"\"hi\"\"\nthere\"\nFileName,x.exe");
        assert_eq!(
            got,
            vec![
                (1, vec!["Type".to_string(), "Value".to_string()]),
                (2, vec!["Sha1".to_string(), "a,b".to_string()]),
                (4, vec!["Url".to_string(), "say \"hi\"\nthere".to_string()]),
                (6, vec!["FileName".to_string(), "x.exe".to_string()]),
            ]
        );
    }

    #[test]
    fn empty_fields_and_unterminated_quotes() {
        assert_eq!(fields("a,,c\n"), vec![(1, vec!["a".to_string(), String::new(), "c".to_string()])]);
        assert_eq!(parse("a\n\"open").unwrap_err().0, 2);
    }
}
