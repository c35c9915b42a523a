//! The command line: `serve` (default), `migrate`, `seed`, `print-schema`,
//! `admin grant <username>`.

use anyhow::Context as _;
use clap::{Parser, Subcommand};

use crate::app::{shutdown_signal, App};
use crate::config::Settings;
use crate::db::{self, StatementCounter};
use crate::{graphql, seed, store, telemetry};

/// Gatehouse: a GraphQL API service.
#[derive(Parser, Debug)]
#[command(name = "gatehouse", version, about)]
pub struct Cli {
    /// What to do (default: serve).
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Subcommands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Apply migrations, load demo data into an empty database, and serve the API.
    Serve,
    /// Apply pending migrations and exit (run once per deploy, before the replicas).
    Migrate,
    /// Load the demo data set into an empty database.
    Seed,
    /// Print the GraphQL schema (SDL), as committed in `schema.graphql`.
    PrintSchema,
    /// Account administration.
    Admin {
        /// What to change.
        #[command(subcommand)]
        action: AdminAction,
    },
}

/// `admin` subcommands.
#[derive(Subcommand, Debug)]
pub enum AdminAction {
    /// Make a user an admin.
    Grant {
        /// The user's username.
        username: String,
    },
    /// Make an admin an ordinary user again.
    Revoke {
        /// The user's username.
        username: String,
    },
}

/// Runs the parsed command line.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let command = cli.command.unwrap_or(Command::Serve);
    if let Command::PrintSchema = command {
        print!("{}", graphql::sdl());
        return Ok(());
    }
    let settings = Settings::load()?;
    let telemetry = telemetry::init(&settings)?;
    let result = run_command(command, settings).await;
    // After serving has stopped (in-flight requests done): the last spans go out now, or
    // they would die with the process on SIGTERM.
    telemetry.shutdown().await;
    result
}

async fn run_command(command: Command, settings: Settings) -> anyhow::Result<()> {
    match command {
        Command::Serve => {
            let app = App::build(settings).await?;
            app.run_until_stopped(shutdown_signal()).await
        }
        Command::Migrate => {
            let db = db::connect_primary(&settings, &StatementCounter::default()).await?;
            db::migrate(&db).await?;
            println!("migrations applied");
            Ok(())
        }
        Command::Seed => {
            let db = db::connect_primary(&settings, &StatementCounter::default()).await?;
            db::migrate(&db).await?;
            if seed::seed_demo_if_empty(&db).await? {
                println!("demo data loaded");
            } else {
                println!("the database already has users; nothing loaded");
            }
            Ok(())
        }
        Command::Admin { action } => {
            let db = db::connect_primary(&settings, &StatementCounter::default()).await?;
            let (username, role) = match &action {
                AdminAction::Grant { username } => (username, store::users::ROLE_ADMIN),
                AdminAction::Revoke { username } => (username, store::users::ROLE_USER),
            };
            store::users::set_role(&db, username, role)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?
                .with_context(|| format!("no user named {username:?}"))?;
            println!("{username} is now {role} (new tokens carry the role; log in again)");
            Ok(())
        }
        Command::PrintSchema => Ok(()),
    }
}
