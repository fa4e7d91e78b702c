//! The web application's building blocks that know no HTTP: [`fields`], the one description of every
//! model's fields that the forms, detail pages and form parsing are generated from (as AdminBro generated
//! its panel), and [`i18n`], the Spanish and English text of every page and the local date formats.

pub mod fields;
pub mod i18n;
