/* Translate: a pure function from a store view to the IR and the status of every object. All
 * of the spec's judgement lives here; problems in user objects become conditions, and
 * translation always finishes. */
#ifndef TR_TRANSLATE_H
#define TR_TRANSLATE_H

#include <stdint.h>

struct tr_view;
struct tr_obj;
struct tr_node;
struct tr_ir;
struct tr_tx;

struct tr_tx_input {
    const struct tr_view *view;
    const char *controller; /* GatewayClass spec.controllerName torii answers to */
    /* The address allocated for a Gateway that has no usable spec.addresses (a loopback
     * address in the file provider). Must be stable for a Gateway across calls. */
    const char *(*alloc_address)(void *ud, const struct tr_obj *gw);
    /* Why the socket addr:port (udp or not) could not be bound, or NULL when it is bound (or
     * was never tried). Gives Programmed its truth. */
    const char *(*bind_error)(void *ud, const char *addr, uint16_t port, int udp);
    void *ud;
};

/* Translates. Returns the result (never NULL); the input view must outlive it. */
struct tr_tx *tr_translate(const struct tr_tx_input *in);
void tr_tx_free(struct tr_tx *t);

/* The status computed for o (a status object: conditions, parents, listeners, ...), or NULL
 * when torii writes no status for it (not ours, or a kind without status). */
const struct tr_node *tr_tx_status(const struct tr_tx *t, const struct tr_obj *o);
const struct tr_ir *tr_tx_ir(const struct tr_tx *t);

/* The features torii supports (GatewayClass status.supportedFeatures), sorted. */
extern const char *const tr_supported_features[];

#endif
