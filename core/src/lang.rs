//! The language of labels: Chinese by default, English on request. The app, the charts and the
//! report bundle all pick their words through [`Lang::t`].

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Lang {
    #[default]
    Zh,
    En,
}

impl Lang {
    /// Picks the label for this language.
    pub fn t<'a>(self, zh: &'a str, en: &'a str) -> &'a str {
        match self {
            Lang::Zh => zh,
            Lang::En => en,
        }
    }
}

impl std::str::FromStr for Lang {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_lowercase().as_str() {
            "zh" | "cn" | "zh-cn" | "中文" => Ok(Lang::Zh),
            "en" | "english" => Ok(Lang::En),
            o => Err(format!("unknown language '{o}' (zh or en)")),
        }
    }
}
