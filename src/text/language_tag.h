/* language_tag.h - BCP 47 language tags as Kanava stores and compares them: letters and
 * digits in subtags separated by '-' (or '_'), at most KN_LANGUAGE_TAG_MAX characters,
 * written in canonical case ("fi", "pt-BR", "zh-Hant-TW", "de-x-phonebook"). Messages,
 * reply templates and the router all use this one rule, so a tag that is stored is one the
 * router can match. */
#ifndef KN_LANGUAGE_TAG_H
#define KN_LANGUAGE_TAG_H

#include <stddef.h>

#define KN_LANGUAGE_TAG_MAX 15

/* Writes tag in canonical case into out (KN_LANGUAGE_TAG_MAX + 1 bytes). 0, or -1 with the
 * reason in why ("has an invalid character at 2", "has an empty subtag", "is longer than
 * 15 characters"). */
int kn_language_tag_canonical(const char *tag, char *out, char *why, size_t why_cap);

#endif
