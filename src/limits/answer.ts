/**
 * An answer now, or later when it comes from a store over the network
 * (Redis, a Durable Object). The in-memory stores answer now, and a caller
 * that takes the value when it is there (`instanceof Promise` otherwise)
 * runs a whole listen or connect in one turn: awaiting an answer that is
 * already there parks the socket's frame and resumes it a microtask later,
 * the largest cost of the relay's own on the pairing path (bun --cpu-prof,
 * docs/benchmarks.md).
 */
export type Answer<T> = T | Promise<T>;
