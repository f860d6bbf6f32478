//! `shared_store/`: the shared store (replay markers, refresh families, login counters).

mod redis;
