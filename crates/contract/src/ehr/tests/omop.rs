//! omop
