//! EHR tests.
