# Independent programming of SAP 4.1.3: linear mixed model of log ALC over scheduled visits with
# visit, arm-by-visit, log baseline and site fixed effects and a random intercept per participant
# (REML; nlme::lme), the arm effect at the day-30-or-discharge visit.
suppressPackageStartupMessages(library(nlme))
args <- commandArgs(trailingOnly = TRUE)
d <- read.csv(args[1], stringsAsFactors = FALSE)
target <- as.integer(args[2])
d$visit <- factor(d$visit)
d$armvisit <- interaction(d$arm, d$visit)
X <- model.matrix(~ 0 + visit, data = d)
for (v in levels(d$visit)) X <- cbind(X, as.numeric(d$visit == v & d$arm == 1))
colnames(X) <- c(paste0("v", levels(d$visit)), paste0("a", levels(d$visit)))
d <- cbind(d, X)
f <- as.formula(paste("y ~ 0 +", paste(colnames(X), collapse = " + "), "+ base + site_dummy"))
fit <- lme(f, random = ~ 1 | subject, data = d, method = "REML",
           control = lmeControl(tolerance = 1e-12, msTol = 1e-12, maxIter = 500, msMaxIter = 500))
name <- paste0("a", target)
b <- fixef(fit)[[name]]
se <- sqrt(vcov(fit)[name, name])
cat(sprintf('{"estimate": %.17g, "se": %.17g}\n', b, se))
