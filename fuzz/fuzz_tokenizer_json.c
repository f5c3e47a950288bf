/* fuzz_tokenizer_json.c - libFuzzer target: any bytes as a tokenizer.json; when it loads,
 * a few texts are encoded. Either works or fails with a clean error. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "text/hf_tokenizer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[] = "/tmp/kanava-fuzz-tok-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0) return 0;
    if (write(fd, data, size) != (ssize_t)size) { close(fd); unlink(path); return 0; }
    close(fd);
    kn_error err;
    kn_hf_tokenizer *t = kn_hf_tokenizer_load(path, &err);
    unlink(path);
    if (!t) return 0;
    const char *texts[] = {"", "Hello, world!", "Tilin avaaminen ÄÖ 🙂 \t ｆｕｌｌ", "a b  c   "};
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        int32_t *ids = NULL;
        size_t n = 0;
        if (kn_hf_tokenizer_encode(t, texts[i], strlen(texts[i]), 16, &ids, &n, &err) == 0) free(ids);
    }
    kn_hf_tokenizer_free(t);
    return 0;
}
