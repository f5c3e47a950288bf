// Read the "text" column of the shared test sets.
//
// Both formats use CSV-style quoting: a field that starts with '"' runs to the
// next lone '"', with '""' standing for one '"', and may hold the delimiter
// and line breaks. Records end at LF or CRLF (Banking77 uses CRLF between
// records and bare LF inside some quoted texts; SIB-200 uses LF).
// .csv files are comma separated, .tsv files tab separated; the first record
// is the header. Row numbers used elsewhere are 0-based data rows.

import { readFileSync } from 'node:fs';

export function parseDelimited(src, delim) {
  const records = [];
  let field = '';
  let record = [];
  let i = 0;
  const n = src.length;
  const endField = () => { record.push(field); field = ''; };
  const endRecord = () => { endField(); records.push(record); record = []; };
  while (i < n) {
    if (field === '' && src[i] === '"') {
      // Quoted field.
      i++;
      for (;;) {
        if (i >= n) throw new Error('unterminated quoted field');
        if (src[i] === '"') {
          if (src[i + 1] === '"') { field += '"'; i += 2; continue; }
          i++;
          break;
        }
        field += src[i++];
      }
      if (i < n && src[i] !== delim && src[i] !== '\n' && src[i] !== '\r') {
        throw new Error(`text after closing quote at offset ${i}`);
      }
      continue;
    }
    const ch = src[i];
    if (ch === delim) { endField(); i++; }
    else if (ch === '\r' && src[i + 1] === '\n') { endRecord(); i += 2; }
    else if (ch === '\n') { endRecord(); i++; }
    else { field += ch; i++; }
  }
  if (field !== '' || record.length) endRecord();
  return records;
}

export function readDataset(file) {
  const delim = file.endsWith('.tsv') ? '\t' : ',';
  let src = readFileSync(file, 'utf8');
  if (src.charCodeAt(0) === 0xfeff) src = src.slice(1);
  const [header, ...rows] = parseDelimited(src, delim);
  const col = header.indexOf('text');
  if (col < 0) throw new Error(`${file}: no "text" column`);
  return rows.map((r, k) => {
    if (r.length !== header.length) {
      throw new Error(`${file}: data row ${k} has ${r.length} fields`);
    }
    return r[col];
  });
}
