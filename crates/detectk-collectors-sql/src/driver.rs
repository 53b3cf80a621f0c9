//! The three SQL drivers, which cargo feature provides each, and how config names map to them.

use std::fmt;

/// A SQL database driver of this crate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Driver {
    /// SQLite, a local file (cargo feature `sqlite`).
    Sqlite,
    /// PostgreSQL (cargo feature `postgres`).
    Postgres,
    /// MySQL or MariaDB (cargo feature `mysql`).
    Mysql,
}

impl Driver {
    /// Every driver, enabled or not.
    pub const ALL: [Driver; 3] = [Driver::Sqlite, Driver::Postgres, Driver::Mysql];

    /// Short name used in messages and in `describe()`: `sqlite`, `postgres`, `mysql`.
    pub fn name(self) -> &'static str {
        match self {
            Driver::Sqlite => "sqlite",
            Driver::Postgres => "postgres",
            Driver::Mysql => "mysql",
        }
    }

    /// The cargo feature of this crate (and of `dtk`) that compiles the driver in.
    pub fn feature(self) -> &'static str {
        self.name()
    }

    /// Whether this build includes the driver.
    pub fn is_enabled(self) -> bool {
        match self {
            Driver::Sqlite => cfg!(feature = "sqlite"),
            Driver::Postgres => cfg!(feature = "postgres"),
            Driver::Mysql => cfg!(feature = "mysql"),
        }
    }

    /// The drivers this build includes.
    pub fn enabled() -> Vec<Driver> {
        Self::ALL.into_iter().filter(|d| d.is_enabled()).collect()
    }

    /// The driver of a config `type` (`sqlite`, `postgres`, `postgresql`, `mysql`); `None`
    /// for `sql`, whose driver comes from the connection string.
    pub fn from_type(type_name: &str) -> Option<Driver> {
        match type_name {
            "sqlite" => Some(Driver::Sqlite),
            "postgres" | "postgresql" => Some(Driver::Postgres),
            "mysql" => Some(Driver::Mysql),
            _ => None,
        }
    }

    /// The driver of a SQLAlchemy-style URL scheme: `postgresql+psycopg2` -> Postgres.
    /// The part after `+` (the Python DB-API module) is ignored.
    pub fn from_scheme(scheme: &str) -> Option<Driver> {
        let dialect = scheme.split('+').next().unwrap_or(scheme);
        match dialect.to_ascii_lowercase().as_str() {
            "sqlite" => Some(Driver::Sqlite),
            "postgres" | "postgresql" | "pgsql" => Some(Driver::Postgres),
            "mysql" | "mariadb" => Some(Driver::Mysql),
            _ => None,
        }
    }

    /// The default TCP port of the server.
    pub fn default_port(self) -> u16 {
        match self {
            Driver::Sqlite => 0,
            Driver::Postgres => 5432,
            Driver::Mysql => 3306,
        }
    }

    /// "sqlite, postgres" — the drivers of this build, for messages.
    pub fn enabled_list() -> String {
        let names: Vec<&str> = Self::enabled().into_iter().map(Driver::name).collect();
        if names.is_empty() {
            "none".into()
        } else {
            names.join(", ")
        }
    }
}

impl fmt::Display for Driver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schemes_of_sqlalchemy_urls_pick_the_driver() {
        assert_eq!(
            Driver::from_scheme("postgresql+psycopg2"),
            Some(Driver::Postgres)
        );
        assert_eq!(Driver::from_scheme("postgresql"), Some(Driver::Postgres));
        assert_eq!(Driver::from_scheme("postgres"), Some(Driver::Postgres));
        assert_eq!(Driver::from_scheme("mysql+pymysql"), Some(Driver::Mysql));
        assert_eq!(
            Driver::from_scheme("mariadb+mariadbconnector"),
            Some(Driver::Mysql)
        );
        assert_eq!(Driver::from_scheme("sqlite"), Some(Driver::Sqlite));
        assert_eq!(Driver::from_scheme("oracle+cx_oracle"), None);
    }

    #[test]
    fn types_pick_the_driver_and_sql_does_not() {
        assert_eq!(Driver::from_type("postgresql"), Some(Driver::Postgres));
        assert_eq!(Driver::from_type("sqlite"), Some(Driver::Sqlite));
        assert_eq!(Driver::from_type("sql"), None);
    }
}
