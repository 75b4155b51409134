//! Who works in the demo: operators, their teams, and the people in them, with Azerbaijani names.

use rand::RngExt;
use rand::rngs::ChaCha8Rng;

/// Operators reporting to the national centre: the state bodies named in the domain reference, then commercial
/// companies, which the demo does not name after real ones.
pub const OPERATORS: [(&str, &str); 8] = [
    ("ANAMA", "ANM"),
    ("Ministry of Emergency Situations", "MES"),
    ("State Border Service", "SBS"),
    ("Ministry of Defence", "MOD"),
    ("Commercial operator A", "COA"),
    ("Commercial operator B", "COB"),
    ("Commercial operator C", "COC"),
    ("Commercial operator D", "COD"),
];

const MALE: [&str; 20] = [
    "Elvin", "Rashad", "Tural", "Orkhan", "Farid", "Kamran", "Nijat", "Anar", "Ilgar", "Samir", "Vusal", "Ramil",
    "Emin", "Javid", "Ruslan", "Elchin", "Murad", "Shahin", "Zaur", "Agshin",
];
const FEMALE: [&str; 10] = [
    "Leyla", "Aytan", "Gunel", "Nigar", "Sevinj", "Aysel", "Narmin", "Konul", "Lala", "Sabina",
];
const SURNAMES: [&str; 16] = [
    "Aliyev",
    "Mammadov",
    "Huseynov",
    "Hasanov",
    "Guliyev",
    "Ismayilov",
    "Abbasov",
    "Rzayev",
    "Karimov",
    "Jafarov",
    "Mustafayev",
    "Babayev",
    "Ahmadov",
    "Quliyev",
    "Suleymanov",
    "Valiyev",
];

/// A person as the forms write them: initial and surname, e.g. `A. Aliyev`, `L. Mammadova`.
pub fn person(rng: &mut ChaCha8Rng) -> String {
    let female = rng.random_bool(0.15);
    let first = if female { pick(rng, &FEMALE) } else { pick(rng, &MALE) };
    let surname = pick(rng, &SURNAMES);
    let initial = first.chars().next().unwrap_or('A');
    if female {
        format!("{initial}. {surname}a")
    } else {
        format!("{initial}. {surname}")
    }
}

/// One element of a non-empty constant list.
pub fn pick<T: Clone>(rng: &mut ChaCha8Rng, items: &[T]) -> T {
    items[rng.random_range(0..items.len())].clone()
}

/// One element by weight (weights need not add up to anything).
pub fn weighted<T: Copy>(rng: &mut ChaCha8Rng, items: &[(T, u32)]) -> T {
    let total: u32 = items.iter().map(|(_, w)| w).sum();
    let mut roll = rng.random_range(0..total.max(1));
    for (item, weight) in items {
        if roll < *weight {
            return *item;
        }
        roll -= weight;
    }
    items[items.len() - 1].0
}

/// A field team: who leads it, who works in it, and what equipment it has.
#[derive(Debug, Clone, PartialEq)]
pub struct Team {
    pub name: String,
    pub operator: String,
    pub operator_code: String,
    pub leader: String,
    pub deminers: Vec<String>,
    pub medic: String,
    pub eod_operator: String,
    pub qa_officer: String,
    /// Detector serials, and the machine and dogs if it has them.
    pub detectors: Vec<String>,
    pub machine: Option<String>,
    pub dogs: Vec<String>,
}

impl Team {
    pub fn new(rng: &mut ChaCha8Rng, operator: usize, number: usize, qa_officer: &str) -> Team {
        let (operator_name, code) = OPERATORS[operator % OPERATORS.len()];
        let deminers: Vec<String> = (0..rng.random_range(7..=10)).map(|_| person(rng)).collect();
        let detectors = (0..deminers.len())
            .map(|i| format!("{}-DET-{:03}", code, number * 20 + i + 1))
            .collect();
        let machine = rng
            .random_bool(0.4)
            .then(|| format!("{}-{}", pick(rng, &["MV-4", "MV-10", "Bozena-5"]), number));
        let dogs = if rng.random_bool(0.25) {
            vec![
                format!("MDD {}", pick(rng, &["Reks", "Alabash", "Bars", "Toplan"])),
                format!("MDD {}", pick(rng, &["Gurd", "Mestan", "Zorba", "Kabar"])),
            ]
        } else {
            vec![]
        };
        Team {
            name: format!("{code} Team {number}"),
            operator: operator_name.to_string(),
            operator_code: code.to_string(),
            leader: person(rng),
            deminers,
            medic: person(rng),
            eod_operator: person(rng),
            qa_officer: qa_officer.to_string(),
            detectors,
            machine,
            dogs,
        }
    }

    pub fn clearance_methods(&self) -> Vec<&'static str> {
        let mut methods = vec!["manual"];
        if self.machine.is_some() {
            methods.push("mechanical");
        }
        if !self.dogs.is_empty() {
            methods.push("mdd");
        }
        methods
    }

    pub fn has_technical_asset(&self) -> bool {
        self.machine.is_some() || !self.dogs.is_empty()
    }
}
