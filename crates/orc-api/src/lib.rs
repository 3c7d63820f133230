//! orc-api
