//! dump: next
