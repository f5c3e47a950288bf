// Hand-written edge cases for the USE-lite reference fixture. Every text is
// valid Unicode (no lone surrogates) and contains no line break, so it can
// sit on one line of cases.jsonl. Non-ASCII characters are written as escapes
// so this file stays readable whatever the editor.

// A deterministic ASCII filler of exactly `len` characters, built from a few
// words written for this purpose. Far more than 128 tokens at 5,000 chars.
function filler(len) {
  const words = [
    'kanava', 'carries', 'small', 'vectors', 'through', 'quiet', 'pipes,',
    'every', 'sentence', 'becomes', 'numbers', 'and', 'the', 'numbers',
    'become', 'answers.', 'Tests', 'check', '128', 'positions', 'only;',
    'the', 'rest', 'is', 'ignored', 'by', 'the', 'encoder.',
  ];
  let s = '';
  for (let i = 0; s.length < len; i++) {
    s += (s ? ' ' : '') + words[i % words.length];
  }
  return s.slice(0, len);
}

const repeatJoin = (word, n, sep) => Array.from({ length: n }, () => word).join(sep);

export const EDGE_CASES = [
  // --- empty and whitespace -------------------------------------------------
  { name: 'empty', text: '' },
  { name: 'one_space', text: ' ' },
  { name: 'spaces_only', text: '     ' },
  { name: 'tabs_only', text: '\t\t\t' },
  { name: 'nbsp_ideographic_space', text: '\u00a0\u3000 \u00a0' },
  { name: 'spaces_lead_trail_multi', text: '   leading and trailing   and   multiple   spaces   ' },
  { name: 'tab_inside', text: 'tab\tseparated\tvalues' },
  { name: 'nbsp_between_words', text: 'no\u00a0break\u2009thin\u3000wide' },
  { name: 'zero_width_and_bom', text: 'zero\u200bwidth\u200djoiner\ufeffmark' },
  { name: 'control_chars', text: 'bell\u0007and\u007fdelete' },
  { name: 'separator_char_literal', text: '\u2581hello \u2581\u2581world' },

  // --- punctuation, colon (null score in the vocabulary) ----------------------
  { name: 'punctuation_only', text: '?!...,;--()[]{}"\'/\\' },
  { name: 'colon_alone', text: ':' },
  { name: 'colon_times_urls', text: 'Note: meet at 10:30 or 10:00 :) see http://example.com :(' },
  { name: 'smart_quotes_dashes', text: '\u201csmart\u201d \u2018single\u2019 \u2014 dash \u2026 he said \u201d5 times' },

  // --- length ------------------------------------------------------------------
  { name: 'single_letter', text: 'a' },
  { name: 'a_x128', text: repeatJoin('a', 128, ' ') },
  { name: 'a_x129', text: repeatJoin('a', 129, ' ') },
  { name: 'long_5000_chars', text: filler(5000) },
  { name: 'long_single_word', text: repeatJoin('antidisestablishmentarianism', 12, '') },
  { name: 'long_word_medical', text: 'pneumonoultramicroscopicsilicovolcanoconiosis' },

  // --- case, digits, addresses ---------------------------------------------------
  { name: 'uppercase', text: 'WHY WAS MY CARD DECLINED AT THE ATM' },
  { name: 'mixed_case', text: 'iPhone McDonald\'s eBay NASA Kanava' },
  { name: 'digits', text: '0 12 345 6789 3.14159 1,000,000 2024-01-31 007' },
  { name: 'url_email', text: 'Write to someone@example.org or visit https://www.example.com/path?q=1&x=y#frag' },
  { name: 'literal_special_tokens', text: '<s> hello </s> <unk> extra_token_id_1' },

  // --- emoji -----------------------------------------------------------------------
  { name: 'emoji_in_text', text: 'I love pizza \ud83c\udf55 and coffee \u2615 so much' },
  { name: 'emoji_only', text: '\ud83d\ude00\ud83d\ude02\ud83e\udd72' },
  { name: 'emoji_zwj', text: 'family \ud83d\udc68\u200d\ud83d\udc69\u200d\ud83d\udc67\u200d\ud83d\udc66 and coder \ud83d\udc69\ud83c\udffd\u200d\ud83d\udcbb' },
  { name: 'emoji_flags', text: 'flags \ud83c\uddeb\ud83c\uddee \ud83c\uddef\ud83c\uddf5 \ud83c\uddfa\ud83c\uddf8' },

  // --- scripts -----------------------------------------------------------------------
  { name: 'mixed_scripts', text: 'Hello \u041f\u0440\u0438\u0432\u0435\u0442 \u0393\u03b5\u03b9\u03ac \u4f60\u597d \u0645\u0631\u062d\u0628\u0627' },
  { name: 'cjk_run', text: '\u6771\u4eac\u90fd\u306e\u5929\u6c17\u306f\u6674\u308c' },
  { name: 'hangul', text: '\ud55c\uad6d\uc5b4 \ubb38\uc7a5' },
  { name: 'unknown_symbols_runs', text: 'token \u2603\u2603\u2603 \u2230\u2230 end \u2603' },

  // --- combining characters and NFKC ---------------------------------------------
  { name: 'combining_acute', text: 'cafe\u0301 re\u0301sume\u0301' },
  { name: 'finnish_decomposed', text: 'Ta\u0308ma\u0308 on ho\u0308lmo\u0308 ja\u0308rjestelma\u0308' },
  { name: 'finnish_precomposed', text: 'T\u00e4m\u00e4 on h\u00f6lm\u00f6 j\u00e4rjestelm\u00e4' },
  { name: 'combining_no_precomposed', text: 'u\u0332n\u0332d\u0332e\u0332r\u0332 x\u0303\u0304' },
  { name: 'nfkc_fullwidth', text: '\uff26\uff55\uff4c\uff4c\uff57\uff49\uff44\uff54\uff48 \uff34\uff25\uff38\uff34 \uff11\uff12\uff13' },
  { name: 'nfkc_ligatures_circled_super', text: '\ufb01nance \ufb02ow \u2460 \u2461 x\u00b2 H\u2082O \u2122 \u00bd' },
  { name: 'nfkc_math_alphanumerics', text: '\ud835\udd18\ud835\udd2b\ud835\udd26\ud835\udd20\ud835\udd2c\ud835\udd21\ud835\udd22 \ud835\udc00\ud835\udc01\ud835\udc02' },
  { name: 'nfkc_halfwidth_katakana', text: '\uff76\uff80\uff76\uff85 \uff8a\uff9f\uff9d' },
];
