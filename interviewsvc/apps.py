from django.contrib.admin.apps import AdminConfig as DjangoAdminConfig


class AdminConfig(DjangoAdminConfig):
    """``django.contrib.admin`` with the project's site (interviewsvc/admin_site.py) as the default."""

    default_site = "interviewsvc.admin_site.AdminSite"
