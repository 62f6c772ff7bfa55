/* tr_sni_parse on any bytes: no crash, a name lies inside the input, and a prefix of an input
 * never claims more than the whole. */
#include "net/sni.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *name;
    size_t len;
    int r = tr_sni_parse(data, size, &name, &len);
    if (r == 1 && name) {
        if ((const uint8_t *)name < data || (const uint8_t *)name + len > data + size || len == 0 || len > 255)
            abort();
    }
    if (r != 0 && size > 0) {
        /* A shorter input is either still incomplete or decided the same way. */
        int rp = tr_sni_parse(data, size - 1, &name, &len);
        if (rp == 1 && r == -1)
            abort();
    }
    return 0;
}
