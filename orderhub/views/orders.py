from django.contrib.auth.decorators import login_required
from django.http import HttpResponse


@login_required
def order_list(request):
    return HttpResponse("orders")


@login_required
def order_detail(request, order_id):
    return HttpResponse("order")


@login_required
def order_transition_view(request, order_id):
    return HttpResponse("order")
